package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// MaxInboundBody bounds an inbound API request, attachments included.
const MaxInboundBody = 8 << 20

// InboundMessage is the body of POST /api/v1/messages.
type InboundMessage struct {
	Contact struct {
		Identifier string `json:"identifier"`
		Name       string `json:"name"`
	} `json:"contact"`
	MessageID   string              `json:"messageId"`
	Subject     string              `json:"subject"`
	Text        string              `json:"text"`
	Attachments []InboundAttachment `json:"attachments"`
}

// InboundAttachment is a file sent with an inbound message.
type InboundAttachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"contentType"`
	Data        string `json:"data"` // standard base64
}

// decode returns the file's bytes; i is its index, for the error.
func (a InboundAttachment) decode(i int) ([]byte, error) {
	data, err := base64.StdEncoding.DecodeString(a.Data)
	if err != nil {
		return nil, badRequest("attachments[%d].data: want standard base64", i)
	}
	return data, nil
}

// ParseInbound decodes and validates an inbound message. Its errors name the
// field. It is a pure function, so it is fuzzed (see api_fuzz_test.go).
func ParseInbound(body []byte) (inbox.Inbound, error) {
	var m InboundMessage
	if err := decodeJSON(bytes.NewReader(body), MaxInboundBody, &m); err != nil {
		return inbox.Inbound{}, err
	}
	in := inbox.Inbound{Channel: "api", Identifier: strings.TrimSpace(m.Contact.Identifier), ContactName: strings.TrimSpace(m.Contact.Name),
		ExternalID: strings.TrimSpace(m.MessageID), Subject: strings.TrimSpace(m.Subject), Body: m.Text}
	switch {
	case in.Identifier == "":
		return in, badRequest("contact.identifier is required (a phone number, an email or your own id for the contact)")
	case len(in.Identifier) > 256 || !utf8.ValidString(in.Identifier):
		return in, badRequest("contact.identifier: at most 256 bytes of UTF-8")
	case len(in.ContactName) > 256 || !utf8.ValidString(in.ContactName):
		return in, badRequest("contact.name: at most 256 bytes of UTF-8")
	case in.ExternalID == "":
		return in, badRequest("messageId is required: your id for the message, so that a retry is not stored twice")
	case len(in.ExternalID) > 256:
		return in, badRequest("messageId: at most 256 bytes")
	case len(in.Subject) > 512 || !utf8.ValidString(in.Subject):
		return in, badRequest("subject: at most 512 bytes of UTF-8")
	case len(in.Body) > inbox.MaxBody:
		return in, badRequest("text: at most %d bytes", inbox.MaxBody)
	case !utf8.ValidString(in.Body):
		return in, badRequest("text: not valid UTF-8")
	case strings.TrimSpace(in.Body) == "" && len(m.Attachments) == 0:
		return in, badRequest("text is required unless there are attachments")
	case len(m.Attachments) > 10:
		return in, badRequest("attachments: at most 10")
	}
	for i, a := range m.Attachments {
		data, err := a.decode(i)
		if err != nil {
			return in, err
		}
		name := strings.TrimSpace(a.Filename)
		if name == "" || len(name) > 255 || strings.ContainsAny(name, "/\\\x00") || !utf8.ValidString(name) {
			return in, badRequest("attachments[%d].filename: 1 to 255 bytes, no slashes", i)
		}
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		if len(ct) > 255 || strings.ContainsAny(ct, "\r\n") {
			return in, badRequest("attachments[%d].contentType: invalid", i)
		}
		sum := sha256.Sum256(data)
		in.Attachments = append(in.Attachments, &store.Attachment{Filename: name, ContentType: ct, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Data: data})
	}
	return in, nil
}

// apiIngest stores an inbound message: 201 when new, 200 with duplicate=true
// for a retry of a message already stored.
func (s *Server) apiIngest(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxInboundBody)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errStatus(http.StatusRequestEntityTooLarge, "too_large", "the body is larger than %d bytes", MaxInboundBody)
		}
		return badRequest("reading the body failed")
	}
	in, err := ParseInbound(body)
	if err != nil {
		return err
	}
	res, err := s.Inbox.Ingest(r.Context(), in)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if res.Duplicate {
		status = http.StatusOK
	} else {
		s.metrics.ingested.Inc()
	}
	writeJSON(w, status, map[string]any{"conversationId": res.Conversation.ID, "messageId": res.Message.ID, "duplicate": res.Duplicate})
	return nil
}
