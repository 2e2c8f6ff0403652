package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
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

// ParseInbound decodes and validates an inbound message. Its errors name the
// field. It is a pure function, so it is fuzzed (see api_fuzz_test.go).
func ParseInbound(body []byte) (inbox.Inbound, error) {
	var m InboundMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return inbox.Inbound{}, badRequest("field %s: want %s", te.Field, te.Type)
		}
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			return inbox.Inbound{}, badRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return inbox.Inbound{}, badRequest("the body is not valid JSON")
	}
	if dec.More() {
		return inbox.Inbound{}, badRequest("the body holds more than one JSON value")
	}
	if f := firstBadText(&m); f != "" {
		return inbox.Inbound{}, badRequest("%s: must be UTF-8 text without NUL bytes", f)
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
		data, err := base64.StdEncoding.DecodeString(a.Data)
		if err != nil {
			return in, badRequest("attachments[%d].data: want standard base64", i)
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

func (s *Server) apiConversations(w http.ResponseWriter, r *http.Request) error {
	v := parseView(r.URL.Query())
	convs, err := s.Inbox.Conversations(r.Context(), v.store(currentUser(r).ID))
	if err != nil {
		return err
	}
	if convs == nil {
		convs = []*store.Conversation{}
	}
	out := map[string]any{"conversations": convs}
	if len(convs) == 50 {
		out["next"] = cursor(convs[len(convs)-1]) // pass as ?before= for the next page
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) apiConversation(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t, err := s.Inbox.Thread(r.Context(), id)
	if err != nil {
		return err
	}
	// The delivery history of each outgoing message, keyed by message id.
	deliveries := map[string][]store.DeliveryEvent{}
	for _, m := range t.Messages {
		if m.Direction != "outgoing" {
			continue
		}
		ev, err := s.Inbox.DeliveryEvents(r.Context(), m.ID)
		if err != nil {
			return err
		}
		deliveries[strconv.FormatInt(m.ID, 10)] = ev
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversation": t.Conversation, "contact": t.Contact, "messages": t.Messages,
		"timeline": t.Timeline, "deliveries": deliveries})
	return nil
}

// apiConversationUpdate applies a JSON patch of the fields present; null
// clears assigneeId or teamId.
func (s *Server) apiConversationUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := readJSON(w, r, 64<<10, &raw); err != nil {
		return err
	}
	var ch store.ConversationChange
	for k, v := range raw {
		switch k {
		case "status", "priority":
			var str string
			if json.Unmarshal(v, &str) != nil {
				return badRequest("%s: want a string", k)
			}
			if k == "status" {
				ch.Status = &str
			} else {
				ch.Priority = &str
			}
		case "snoozedUntil":
			var t time.Time
			if json.Unmarshal(v, &t) != nil {
				return badRequest("snoozedUntil: want an RFC 3339 time")
			}
			ch.SnoozedUntil = &t
		case "assigneeId", "teamId":
			var p *int64
			if json.Unmarshal(v, &p) != nil || (p != nil && *p <= 0) {
				return badRequest("%s: want an id or null", k)
			}
			if k == "assigneeId" {
				ch.AssigneeID = &p
			} else {
				ch.TeamID = &p
			}
		case "addTags", "removeTags":
			var tags []string
			if json.Unmarshal(v, &tags) != nil {
				return badRequest("%s: want a list of strings", k)
			}
			if k == "addTags" {
				ch.AddTags = tags
			} else {
				ch.RemoveTags = tags
			}
		default:
			return badRequest("unknown field %q", k)
		}
	}
	conv, err := s.Inbox.Update(r.Context(), currentUser(r).ID, id, ch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversation": conv})
	return nil
}

type textBody struct {
	Text string `json:"text"`
}

func (s *Server) apiReply(w http.ResponseWriter, r *http.Request) error {
	return s.apiPost(w, r, s.Inbox.Reply)
}

func (s *Server) apiNote(w http.ResponseWriter, r *http.Request) error {
	return s.apiPost(w, r, s.Inbox.Note)
}

// apiPost adds a reply or a note, from {"text": ...}, to the conversation in the path.
func (s *Server) apiPost(w http.ResponseWriter, r *http.Request, add func(ctx context.Context, actor, conversationID int64, body string) (*store.Message, error)) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b textBody
	if err := readJSON(w, r, 128<<10, &b); err != nil {
		return err
	}
	m, err := add(r.Context(), currentUser(r).ID, id, b.Text)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"message": m})
	return nil
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) error {
	u := currentUser(r)
	writeJSON(w, http.StatusOK, map[string]any{"id": u.ID, "email": u.Email, "name": u.Name, "role": u.Role})
	return nil
}

func (s *Server) apiUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.Users.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(users))
	for _, u := range users {
		out = append(out, map[string]any{"id": u.ID, "email": u.Email, "name": u.Name, "role": u.Role, "disabled": u.Disabled})
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

func (s *Server) apiTeams(w http.ResponseWriter, r *http.Request) error {
	teams, err := s.Teams.List(r.Context())
	if err != nil {
		return err
	}
	if teams == nil {
		teams = []*store.Team{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"teams": teams})
	return nil
}

func (s *Server) apiCannedReplies(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Canned.List(r.Context(), r.URL.Query().Get("prefix"))
	if err != nil {
		return err
	}
	if list == nil {
		list = []*store.CannedReply{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"cannedReplies": list})
	return nil
}

func (s *Server) apiCannedCreate(w http.ResponseWriter, r *http.Request) error {
	var c store.CannedReply
	if err := readJSON(w, r, 64<<10, &c); err != nil {
		return err
	}
	if strings.TrimSpace(c.Title) == "" || strings.TrimSpace(c.Body) == "" {
		return badRequest("title and body are required")
	}
	out, err := s.Canned.Create(r.Context(), currentUser(r).ID, &store.CannedReply{Shortcut: c.Shortcut, Title: c.Title, Body: c.Body})
	if err != nil {
		return cannedError(err, c.Shortcut)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"cannedReply": out})
	return nil
}

// apiDeliveryStatus lets the receiver of the API channel's webhook report
// what became of a reply: delivered, read or failed.
func (s *Server) apiDeliveryStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b struct {
		Status string `json:"status"`
		Detail string `json:"detail"`
	}
	if err := readJSON(w, r, 8<<10, &b); err != nil {
		return err
	}
	switch b.Status {
	case "sent", "delivered", "read", "failed":
	default:
		return badRequest("status: want sent, delivered, read or failed")
	}
	if len(b.Detail) > 1024 {
		return badRequest("detail: at most 1024 bytes")
	}
	if err := s.Inbox.RecordDelivery(r.Context(), id, b.Status, b.Detail); err != nil {
		return err
	}
	events, err := s.Inbox.DeliveryEvents(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"messageId": id, "deliveries": events})
	return nil
}
