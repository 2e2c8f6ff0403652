package telnyx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Limits on an inbound MMS's files. Carriers cap an MMS near 1 MB; these
// leave room and still bound what one webhook can make us store.
const (
	MaxMediaBytes = 10 << 20
	MaxMedia      = 10
	mediaTimeout  = 20 * time.Second
)

// fetchMedia downloads an MMS's files. A file that cannot be had (too
// large, unreachable, not matching its sha256) is not stored; a note in
// the message says so, so that the text still arrives and the agent knows
// something is missing.
func (a *Adapter) fetchMedia(ctx context.Context, media []Media) ([]*store.Attachment, []string) {
	ctx, cancel := context.WithTimeout(ctx, mediaTimeout)
	defer cancel()
	var out []*store.Attachment
	var notes []string
	for i, m := range media {
		if i >= MaxMedia {
			notes = append(notes, fmt.Sprintf("[%d more attachments were not kept: at most %d are]", len(media)-MaxMedia, MaxMedia))
			break
		}
		att, err := a.fetchOne(ctx, i, m)
		if err != nil {
			what := m.ContentType
			if what == "" {
				what = "file"
			}
			notes = append(notes, fmt.Sprintf("[attachment %d (%s) could not be retrieved: %v]", i+1, what, err))
			a.d.Log.Warn("telnyx: an MMS attachment could not be retrieved", "index", i, "error", err.Error())
			continue
		}
		out = append(out, att)
	}
	return out, notes
}

func (a *Adapter) fetchOne(ctx context.Context, i int, m Media) (*store.Attachment, error) {
	if m.Size > MaxMediaBytes {
		return nil, fmt.Errorf("it is %d bytes, more than the %d kept", m.Size, MaxMediaBytes)
	}
	u, err := url.Parse(m.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("its URL is not an http(s) URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("its URL is not valid")
	}
	if a.ownHost(u) {
		key, ok := a.key()
		if !ok {
			return nil, fmt.Errorf("the integration was closed")
		}
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, redactURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the download answered %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxMediaBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading it: %w", err)
	}
	if len(data) > MaxMediaBytes {
		return nil, fmt.Errorf("it is more than the %d bytes kept", MaxMediaBytes)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if m.SHA256 != "" && !strings.EqualFold(strings.TrimSpace(m.SHA256), digest) {
		return nil, fmt.Errorf("its sha256 does not match what Telnyx announced")
	}
	ct := m.ContentType
	if ct == "" {
		ct = resp.Header.Get("Content-Type")
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		ct = mt
	} else {
		ct = http.DetectContentType(data)
	}
	return &store.Attachment{Filename: filename(u, i, ct), ContentType: ct, Size: int64(len(data)), SHA256: digest, Data: data}, nil
}

// ownHost says whether a media URL is on Telnyx's API (or the emulator
// standing in for it), the only place the API key is sent: MMS files are
// usually short-lived signed URLs on a storage host, which need no key and
// must not see it.
func (a *Adapter) ownHost(u *url.URL) bool {
	base, err := url.Parse(a.base)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, base.Host) && u.Scheme == base.Scheme {
		return true
	}
	h := strings.ToLower(u.Hostname())
	return u.Scheme == "https" && (h == "telnyx.com" || strings.HasSuffix(h, ".telnyx.com"))
}

// commonExt is the usual extension of MMS types (mime lists .jfif first
// for JPEG).
var commonExt = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif",
	"video/mp4": ".mp4", "video/3gpp": ".3gp", "audio/amr": ".amr", "audio/mpeg": ".mp3", "text/vcard": ".vcf", "text/x-vcard": ".vcf"}

// filename is the URL's last path element when it looks like a file name,
// else "mms-<n>" with an extension for the type.
func filename(u *url.URL, i int, contentType string) string {
	base := path.Base(u.Path)
	if base != "." && base != "/" && strings.Contains(base, ".") && len(base) <= 100 && !strings.ContainsAny(base, "\\\x00") {
		return base
	}
	name := fmt.Sprintf("mms-%d", i+1)
	if ext, ok := commonExt[contentType]; ok {
		return name + ext
	}
	if exts, _ := mime.ExtensionsByType(contentType); len(exts) > 0 {
		name += exts[0]
	}
	return name
}
