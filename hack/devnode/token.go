package devnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tokenSource is one projected ServiceAccount token and where it is written.
type tokenSource struct {
	volume     string
	audience   string
	expiration int64
	file       string
}

func (r *podRun) tokenSources() []tokenSource {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []tokenSource
	for _, v := range r.pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			t := s.ServiceAccountToken
			if t == nil {
				continue
			}
			exp := int64(3600)
			if t.ExpirationSeconds != nil {
				exp = *t.ExpirationSeconds
			}
			out = append(out, tokenSource{
				volume:     v.Name,
				audience:   t.Audience,
				expiration: exp,
				file:       filepath.Join(r.dir, v.Name, t.Path),
			})
		}
	}
	return out
}

// writeToken asks the API server for a token bound to this pod, so it stops
// being valid when the pod is deleted, exactly as the kubelet's would, and
// writes it atomically so the process never reads half a token.
func (r *podRun) writeToken(ctx context.Context, ts tokenSource) (time.Time, error) {
	r.mu.Lock()
	ns, name, uid, sa := r.pod.Namespace, r.pod.Name, r.pod.UID, r.pod.Spec.ServiceAccountName
	r.mu.Unlock()
	if sa == "" {
		sa = "default"
	}
	req := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{
		ExpirationSeconds: &ts.expiration,
		BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: name, UID: uid},
	}}
	if ts.audience != "" {
		req.Spec.Audiences = []string{ts.audience}
	}
	issued := time.Now()
	tr, err := r.p.client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return time.Time{}, fmt.Errorf("requesting a token for ServiceAccount %s/%s (volume %s): %w", ns, sa, ts.volume, err)
	}
	if err := os.MkdirAll(filepath.Dir(ts.file), 0o700); err != nil {
		return time.Time{}, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(ts.file), ".token-*")
	if err != nil {
		return time.Time{}, err
	}
	_, err = tmp.WriteString(tr.Status.Token)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), ts.file)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return time.Time{}, err
	}
	at := refreshAt(issued, tr.Status.ExpirationTimestamp.Time)
	r.mu.Lock()
	r.tokenDue[ts.file] = at
	r.mu.Unlock()
	return at, nil
}

// refreshAt is when a token should be replaced: at 80% of its lifetime, as
// the kubelet does, so a process re-reading the file never holds an expired
// one.
func refreshAt(issued, expires time.Time) time.Time {
	if !expires.After(issued) {
		return issued
	}
	return issued.Add(expires.Sub(issued) * 8 / 10)
}

func (r *podRun) refreshToken(ts tokenSource) {
	r.mu.Lock()
	next := r.tokenDue[ts.file] // prepare has just written it
	r.mu.Unlock()
	for {
		if !sleepCtx(r.ctx, time.Until(next)) {
			return
		}
		at, err := r.writeToken(r.ctx, ts)
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			r.log.Warn("refreshing a token; retrying in 10s", "volume", ts.volume, "err", err)
			next = time.Now().Add(10 * time.Second)
			continue
		}
		r.log.Info("refreshed a token", "volume", ts.volume, "next", at.Format(time.RFC3339))
		next = at
	}
}
