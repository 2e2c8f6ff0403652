package inbox

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// AttachmentSender is a channel that sends files with a reply (every
// built-in one, each within its own limits). Replies on a channel without
// it are text only, and files given with one are refused before anything
// is stored.
type AttachmentSender interface {
	Channel
	// AttachmentLimits are the most files one reply may carry and their
	// total size in bytes.
	AttachmentLimits() (files int, total int64)
}

// AttachmentChecker is an AttachmentSender with rules of its own for a
// reply's files (the types it takes, sizes per type, text with a file),
// checked before the reply is stored. Its errors wrap ErrAttachments.
type AttachmentChecker interface {
	AttachmentSender
	CheckAttachments(body string, files []*store.Attachment) error
}

// ErrAttachments: the files given with a reply cannot be sent (too many,
// too large, or a channel that sends text only). Its message says which.
var ErrAttachments = errors.New("attachments")

// File is a file an agent attaches to a reply, as uploaded.
type File struct {
	Filename    string
	ContentType string
	Data        []byte
}

// attachments checks files against ch's limits (and its own rules, see
// AttachmentChecker) and makes them attachments of the reply: a filename without a folder or control characters, a
// content type that parses (else one detected from the bytes), the size
// and the SHA-256.
func attachments(ch Channel, body string, files []File) ([]*store.Attachment, error) {
	if len(files) == 0 {
		return nil, nil
	}
	as, ok := ch.(AttachmentSender)
	if !ok {
		return nil, fmt.Errorf("%w: replies on this channel are text only; files cannot be sent with them", ErrAttachments)
	}
	most, total := as.AttachmentLimits()
	if len(files) > most {
		return nil, fmt.Errorf("%w: at most %s with one reply (%d given)", ErrAttachments, plural(most, "file"), len(files))
	}
	var sum int64
	out := make([]*store.Attachment, 0, len(files))
	for _, f := range files {
		sum += int64(len(f.Data))
		if sum > total {
			return nil, fmt.Errorf("%w: at most %s of files with one reply in all", ErrAttachments, sizeText(total))
		}
		h := sha256.Sum256(f.Data)
		out = append(out, &store.Attachment{Filename: cleanFilename(f.Filename), ContentType: cleanContentType(f.ContentType, f.Data),
			Size: int64(len(f.Data)), SHA256: hex.EncodeToString(h[:]), Data: f.Data})
	}
	if c, ok := ch.(AttachmentChecker); ok {
		if err := c.CheckAttachments(body, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cleanFilename keeps the last element of a path a browser or client sent,
// without control characters, at most 255 bytes of UTF-8; "attachment" if
// nothing is left.
func cleanFilename(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, ""))
	name = strings.TrimSpace(name)
	for len(name) > 255 {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	if name == "" || name == "." || name == ".." {
		return "attachment"
	}
	return name
}

// cleanContentType is ct without parameters if it parses as a media type,
// else the type the bytes look like.
func cleanContentType(ct string, data []byte) string {
	if mt, _, err := mime.ParseMediaType(ct); err == nil && strings.Contains(mt, "/") && len(mt) <= 255 {
		return mt
	}
	mt, _, _ := mime.ParseMediaType(http.DetectContentType(data))
	return mt
}

func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
