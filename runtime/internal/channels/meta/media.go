package meta

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// MaxMedia is the largest attachment fetched and stored (WhatsApp's own
// limit for video and audio is 16 MB). A larger one is noted in the
// message body instead.
const MaxMedia = 16 << 20

// errMediaGone is a media file that cannot be fetched, now or later (too
// large, refused, gone): the message is stored without it, with a note.
var errMediaGone = errors.New("media not available")

// mediaError is why an attachment was not stored, for the message body.
type mediaError struct {
	reason string
}

func (e *mediaError) Error() string   { return e.reason }
func (e *mediaError) Is(t error) bool { return t == errMediaGone }

// download GETs a media URL, with a bearer token if token is set, and
// returns at most limit bytes. A 4xx or a file over the limit is
// errMediaGone; a 5xx or a transport error is temporary (the webhook is
// answered 500 and Meta delivers it again).
func download(ctx context.Context, client *http.Client, rawURL, token string, limit int64) ([]byte, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, "", &mediaError{"its URL is not http(s)"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", &mediaError{"its URL is not valid"}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("fetching media: %w", redact(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, "", fmt.Errorf("fetching media: the server answered %s", resp.Status)
	case resp.StatusCode/100 != 2:
		return nil, "", &mediaError{"the media server answered " + resp.Status}
	case resp.ContentLength > limit:
		return nil, "", &mediaError{fmt.Sprintf("larger than %d MiB", limit>>20)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("fetching media: %w", redact(err))
	}
	if int64(len(data)) > limit {
		return nil, "", &mediaError{fmt.Sprintf("larger than %d MiB", limit>>20)}
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// attachment makes a stored attachment of data, with its SHA-256.
func attachment(data []byte, filename, contentType string) *store.Attachment {
	sum := sha256.Sum256(data)
	return &store.Attachment{Filename: cleanFilename(filename), ContentType: cleanContentType(contentType),
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Data: data}
}

// hashMatches checks data against a provider's SHA-256, which may be hex or
// base64; a value that is neither is not checked.
func hashMatches(data []byte, want string) bool {
	sum := sha256.Sum256(data)
	if b, err := hex.DecodeString(want); err == nil && len(b) == sha256.Size {
		return bytes.Equal(b, sum[:])
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(want); err == nil && len(b) == sha256.Size {
			return bytes.Equal(b, sum[:])
		}
	}
	return true
}

func cleanFilename(name string) string {
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, strings.TrimSpace(name))
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || !utf8.ValidString(name) {
		return "attachment"
	}
	return name
}

func cleanContentType(ct string) string {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || len(ct) > 255 {
		return "application/octet-stream"
	}
	return mime.FormatMediaType(mt, params)
}

// filenameFor names an attachment that came without a name: kind plus an
// extension for its type.
func filenameFor(kind, contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	ext := ""
	switch mt {
	case "image/jpeg":
		ext = ".jpg"
	case "image/png":
		ext = ".png"
	case "image/webp":
		ext = ".webp"
	case "audio/ogg":
		ext = ".ogg"
	case "audio/mpeg":
		ext = ".mp3"
	case "audio/mp4", "audio/aac":
		ext = ".m4a"
	case "video/mp4":
		ext = ".mp4"
	case "video/3gpp":
		ext = ".3gp"
	case "application/pdf":
		ext = ".pdf"
	default:
		if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
			ext = exts[0]
		}
	}
	return kind + ext
}

// filenameFromURL is the last path element of a media URL, if it looks
// like a file name.
func filenameFromURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	base := path.Base(u.Path)
	if base == "." || base == "/" || !strings.Contains(base, ".") {
		return ""
	}
	return base
}
