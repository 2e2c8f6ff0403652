package devnode

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probe runs the startup probe, then liveness and readiness, for one process
// instance, with the kubelet's semantics: readiness and liveness wait for the
// startup probe; failing liveness or startup restarts the container.
func (c *container) probe(ctx context.Context, proc *process, spec corev1.Container) {
	for _, p := range []*corev1.Probe{spec.StartupProbe, spec.LivenessProbe, spec.ReadinessProbe} {
		if p != nil && p.Exec != nil {
			c.r.log.Warn("exec probes are not run (the command is meant for inside the image); treated as succeeding", "container", c.name)
		}
	}
	if spec.StartupProbe != nil {
		ok := c.probeLoop(ctx, spec, spec.StartupProbe, nil)
		if !ok {
			if ctx.Err() == nil {
				c.r.log.Warn("startup probe failed; restarting the container", "container", c.name)
				go proc.stop(c.r.graceperiod())
			}
			return
		}
		c.set(func() { c.started = true })
	}
	if spec.LivenessProbe != nil {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() {
			if !c.probeLoop(ctx, spec, spec.LivenessProbe, nil) && ctx.Err() == nil {
				c.r.log.Warn("liveness probe failed; restarting the container", "container", c.name)
				proc.stop(c.r.graceperiod())
			}
		})
	}
	if spec.ReadinessProbe == nil {
		c.set(func() { c.ready = true })
		return
	}
	c.probeLoop(ctx, spec, spec.ReadinessProbe, func(ready bool) {
		c.r.mu.Lock()
		changed := c.ready != ready
		c.r.mu.Unlock()
		if changed {
			c.r.log.Info("readiness changed", "container", c.name, "ready", ready)
			c.set(func() { c.ready = ready })
		}
	})
}

// probeLoop probes every period. With onChange nil it returns true once the
// probe has succeeded successThreshold times in a row, false after
// failureThreshold failures in a row (or when ctx ends). With onChange it
// reports each threshold crossing and runs until ctx ends.
func (c *container) probeLoop(ctx context.Context, spec corev1.Container, p *corev1.Probe, onChange func(bool)) bool {
	period := seconds(p.PeriodSeconds, 10)
	success, failure := int(orDefault(p.SuccessThreshold, 1)), int(orDefault(p.FailureThreshold, 3))
	if !sleepCtx(ctx, time.Duration(p.InitialDelaySeconds)*time.Second) {
		return false
	}
	var oks, fails int
	for {
		err := c.probeOnce(ctx, spec, p)
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			oks, fails = oks+1, 0
		} else {
			oks, fails = 0, fails+1
		}
		switch {
		case oks >= success:
			if onChange == nil {
				return true
			}
			onChange(true)
		case fails >= failure:
			if onChange == nil {
				return false
			}
			onChange(false)
		}
		if !sleepCtx(ctx, period) {
			return false
		}
	}
}

func (c *container) probeOnce(ctx context.Context, spec corev1.Container, p *corev1.Probe) error {
	ctx, cancel := context.WithTimeout(ctx, seconds(p.TimeoutSeconds, 1))
	defer cancel()
	switch {
	case p.HTTPGet != nil:
		g := p.HTTPGet
		port, err := c.resolvePort(spec, g.Port)
		if err != nil {
			return err
		}
		host := g.Host
		if host == "" {
			host = loopback
		}
		scheme := "http"
		if g.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
		ref, err := url.Parse(g.Path)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.ResolveReference(ref).String(), nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "kube-probe/devnode")
		for _, h := range g.HTTPHeaders {
			req.Header.Add(h.Name, h.Value)
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	case p.TCPSocket != nil || p.GRPC != nil:
		// gRPC health is approximated by a TCP connect.
		var port int
		var err error
		if p.TCPSocket != nil {
			port, err = c.resolvePort(spec, p.TCPSocket.Port)
		} else {
			port = c.hostPort(p.GRPC.Port)
		}
		if err != nil {
			return err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(loopback, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	default:
		// Exec probes would run a command meant for inside the image.
		return nil
	}
}

// probeClient skips TLS verification, as the kubelet does for HTTPS probes.
var probeClient = &http.Client{Transport: &http.Transport{
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelet semantics
	DisableKeepAlives: true,
}}

func (c *container) resolvePort(spec corev1.Container, p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return c.hostPort(p.IntVal), nil
	}
	for _, cp := range spec.Ports {
		if cp.Name == p.StrVal {
			return c.hostPort(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q", spec.Name, p.StrVal)
}

func seconds(v, def int32) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

func orDefault(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
