package meta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// A WhatsApp reply carries at most one file: a media message is one file
// with its caption, and the reply is one message with one wamid, which its
// status reports follow.
const (
	MaxWhatsAppFiles   = 1
	MaxWhatsAppCaption = 1024 // characters
	// MaxWhatsAppFileBytes is the inbox's bound; images are held to 5 MiB
	// (whatsAppMedia).
	MaxWhatsAppFileBytes = 10 << 20
)

// whatsAppMedia are the media types WhatsApp sends, by message type, with
// the largest file of each (Cloud API, "Supported media types"; stickers
// are not offered).
var whatsAppMedia = []struct {
	kind  string
	types []string
	max   int64
}{
	{"image", []string{"image/jpeg", "image/png"}, 5 << 20},
	{"video", []string{"video/mp4", "video/3gpp"}, 16 << 20},
	{"audio", []string{"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}, 16 << 20},
	{"document", []string{"application/pdf", "text/plain", "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
		"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"application/vnd.openxmlformats-officedocument.presentationml.presentation"}, 100 << 20},
}

// whatsAppKind is the message type a file of contentType goes as, and its
// largest size; "" if WhatsApp sends no such file.
func whatsAppKind(contentType string) (string, int64) {
	for _, m := range whatsAppMedia {
		if slices.Contains(m.types, contentType) {
			return m.kind, m.max
		}
	}
	return "", 0
}

var _ inbox.AttachmentChecker = (*WhatsApp)(nil)

// AttachmentLimits: one file with a reply (inbox.AttachmentSender).
func (w *WhatsApp) AttachmentLimits() (int, int64) { return MaxWhatsAppFiles, MaxWhatsAppFileBytes }

// CheckAttachments holds a reply's file to what WhatsApp sends: its types
// and their sizes, a caption of at most 1,024 characters, and none on
// audio.
func (w *WhatsApp) CheckAttachments(body string, files []*store.Attachment) error {
	for _, f := range files {
		kind, most := whatsAppKind(f.ContentType)
		switch {
		case kind == "":
			return fmt.Errorf("%w: WhatsApp does not send %s files (%s); it sends PDF, Word, Excel, PowerPoint and plain-text documents, "+
				"JPEG and PNG images, MP4 and 3GPP videos, and AAC, AMR, MP3, MP4 and OGG audio", inbox.ErrAttachments, f.ContentType, f.Filename)
		case f.Size > most:
			return fmt.Errorf("%w: WhatsApp sends %s files of at most %d MiB; %s has %.1f MiB", inbox.ErrAttachments, kind, most>>20, f.Filename, float64(f.Size)/(1<<20))
		case kind == "audio" && body != "":
			return fmt.Errorf("%w: WhatsApp sends audio without text: send the text as a reply of its own", inbox.ErrAttachments)
		case utf8.RuneCountInString(body) > MaxWhatsAppCaption:
			return fmt.Errorf("%w: with a file, WhatsApp sends at most %d characters of text (its caption); this reply has %d",
				inbox.ErrAttachments, MaxWhatsAppCaption, utf8.RuneCountInString(body))
		}
	}
	return nil
}

// mediaMessage uploads a reply's file (POST /{phone-number-id}/media) and
// returns the message's type and its media object. An upload sends nothing
// to the contact, so a failed one is retried whatever its cause; a file
// WhatsApp refuses fails the reply.
func (w *WhatsApp) mediaMessage(ctx context.Context, token, secret string, f *store.Attachment, caption string) (string, map[string]any, error) {
	kind, _ := whatsAppKind(f.ContentType)
	if kind == "" {
		return "", nil, adapter.Permanent(fmt.Errorf("WhatsApp does not send %s files", f.ContentType))
	}
	var up struct {
		ID string `json:"id"`
	}
	err := w.graph.upload(ctx, token, secret, w.phoneID+"/media", [][2]string{{"messaging_product", "whatsapp"}, {"type", f.ContentType}},
		"file", f.Filename, f.ContentType, f.Data, &up)
	var ge *GraphError
	switch {
	case errors.As(err, &ge):
		return "", nil, deliveryError(fmt.Errorf("uploading %s: %w", f.Filename, err), w.report)
	case err != nil:
		return "", nil, fmt.Errorf("uploading %s: %w", f.Filename, err)
	case up.ID == "":
		return "", nil, fmt.Errorf("uploading %s: the Graph API returned no media id", f.Filename)
	}
	m := map[string]any{"id": up.ID}
	if caption != "" {
		m["caption"] = caption
	}
	if kind == "document" {
		m["filename"] = f.Filename
	}
	return kind, m, nil
}

// Messenger sends a file as a message of its own, without text (the Send
// API takes text or an attachment, never both), and up to 25 MB: a reply
// is one message, whose mid the receipts' watermarks need not name.
const MaxMessengerFiles = 1

var _ inbox.AttachmentChecker = (*Messenger)(nil)

// AttachmentLimits: one file with a reply (inbox.AttachmentSender).
func (m *Messenger) AttachmentLimits() (int, int64) { return MaxMessengerFiles, MaxWhatsAppFileBytes }

// CheckAttachments: a Messenger reply with a file has no text.
func (m *Messenger) CheckAttachments(body string, files []*store.Attachment) error {
	if len(files) > 0 && strings.TrimSpace(body) != "" {
		return fmt.Errorf("%w: Messenger sends a file without text: send the text as a reply of its own", inbox.ErrAttachments)
	}
	return nil
}

// messengerKind is the attachment type a file goes as.
func messengerKind(contentType string) string {
	switch major, _, _ := strings.Cut(contentType, "/"); {
	case contentType == "image/jpeg" || contentType == "image/png" || contentType == "image/gif":
		return "image"
	case major == "video" || major == "audio":
		return major
	}
	return "file"
}
