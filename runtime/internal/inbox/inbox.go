// Package inbox is the shared inbox's service layer: it ingests messages from
// channels, sends agents' replies through them, and records every change in
// the conversation timeline, the audit log and the live feed.
package inbox

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Channel is how a conversation's messages leave the workspace. Every
// provider adapter (API, WhatsApp, Messenger, email, SMS) implements it.
type Channel interface {
	// Name is the channel's name as stored on conversations ("api", "whatsapp", ...).
	Name() string
	// Deliver sends an agent's reply. It runs from the outbox worker, after the
	// reply is committed, and may be retried: it must be idempotent on
	// Outbound.MessageID. It returns the provider's id for the message.
	Deliver(ctx context.Context, out Outbound) (providerID string, err error)
}

// Outbound is an agent's reply on its way out.
type Outbound struct {
	MessageID      int64     `json:"messageId"`
	ConversationID int64     `json:"conversationId"`
	Channel        string    `json:"channel"`
	Identifier     string    `json:"contact"` // the contact as the channel names them
	Body           string    `json:"body"`
	AuthorID       int64     `json:"authorId"`
	CreatedAt      time.Time `json:"createdAt"`
}

// Errors callers map to 4xx.
var (
	ErrEmpty   = errors.New("the message is empty")
	ErrTooLong = errors.New("the message is too long")
	// ErrReadOnly is the CRM's restriction: a restricted contact is read-only.
	ErrReadOnly  = store.ErrRestricted
	ErrNoChannel = errors.New("the conversation's channel is not connected")
)

// MaxBody is the longest message body accepted, in bytes.
const MaxBody = 64 << 10

// Service is the inbox.
type Service struct {
	Store    *store.Store
	Live     *live.Hub
	channels map[string]Channel
}

// New returns a Service delivering through channels.
func New(s *store.Store, hub *live.Hub, channels ...Channel) *Service {
	svc := &Service{Store: s, Live: hub, channels: map[string]Channel{}}
	for _, c := range channels {
		svc.channels[c.Name()] = c
	}
	return svc
}

// Channel returns a connected channel by name.
func (s *Service) Channel(name string) (Channel, bool) {
	c, ok := s.channels[name]
	return c, ok
}

func checkBody(body string) error {
	if strings.TrimSpace(body) == "" {
		return ErrEmpty
	}
	if len(body) > MaxBody {
		return ErrTooLong
	}
	if !utf8.ValidString(body) {
		return fmt.Errorf("%w: not valid UTF-8", store.ErrInvalid)
	}
	return nil
}

// Ingest stores an inbound message and announces it. A duplicate external id
// returns the original message with Duplicate set, and announces nothing.
func (s *Service) Ingest(ctx context.Context, in store.Inbound) (*store.IngestResult, error) {
	if err := checkBody(in.Body); err != nil && len(in.Attachments) == 0 {
		return nil, err
	}
	res, err := s.Store.Ingest(ctx, in)
	if err != nil {
		return nil, err
	}
	if !res.Duplicate {
		_ = s.Store.Audit(ctx, nil, nil, "system", "message.received", "message", res.Message.ID)
		s.Live.Publish(ctx, live.Event{Type: "message.created", ConversationID: res.Conversation.ID, MessageID: res.Message.ID})
	}
	return res, nil
}

// Reply stores an agent's reply as queued and hands it to the outbox, in one
// transaction, so a reply is never lost nor sent twice by a crash.
func (s *Service) Reply(ctx context.Context, actor int64, conversationID int64, body string) (*store.Message, error) {
	if err := checkBody(body); err != nil {
		return nil, err
	}
	var msg *store.Message
	err := s.Store.Transact(ctx, func(tx pgx.Tx) error {
		conv, err := s.Store.ConversationByID(ctx, tx, conversationID)
		if err != nil {
			return err
		}
		contact, err := s.Store.ContactByID(ctx, tx, conv.ContactID)
		if err != nil {
			return err
		}
		if contact.ProcessingRestricted {
			return ErrReadOnly
		}
		if _, ok := s.channels[conv.Channel]; !ok {
			return ErrNoChannel
		}
		var identifier string
		if err := tx.QueryRow(ctx, `SELECT identifier FROM contact_identities WHERE contact_id = $1 AND channel = $2 LIMIT 1`,
			conv.ContactID, conv.Channel).Scan(&identifier); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		queued := "queued"
		msg, err = s.Store.InsertMessage(ctx, tx, &store.Message{ConversationID: conversationID, Channel: conv.Channel,
			Direction: "outgoing", AuthorID: &actor, Body: body, DeliveryStatus: &queued})
		if err != nil {
			return err
		}
		out := Outbound{MessageID: msg.ID, ConversationID: conversationID, Channel: conv.Channel, Identifier: identifier,
			Body: body, AuthorID: actor, CreatedAt: msg.CreatedAt}
		if err := s.Store.Enqueue(ctx, tx, "deliver", &msg.ID, out); err != nil {
			return err
		}
		return s.Store.Audit(ctx, tx, &actor, "user", "message.sent", "message", msg.ID)
	})
	if err != nil {
		return nil, err
	}
	s.Live.Publish(ctx, live.Event{Type: "message.created", ConversationID: conversationID, MessageID: msg.ID})
	return msg, nil
}

// Note adds a private note, seen by the team only.
func (s *Service) Note(ctx context.Context, actor int64, conversationID int64, body string) (*store.Message, error) {
	if err := checkBody(body); err != nil {
		return nil, err
	}
	var msg *store.Message
	err := s.Store.Transact(ctx, func(tx pgx.Tx) error {
		conv, err := s.Store.ConversationByID(ctx, tx, conversationID)
		if err != nil {
			return err
		}
		msg, err = s.Store.InsertMessage(ctx, tx, &store.Message{ConversationID: conversationID, Channel: conv.Channel,
			Direction: "note", AuthorID: &actor, Body: body})
		if err != nil {
			return err
		}
		return s.Store.Audit(ctx, tx, &actor, "user", "note.created", "message", msg.ID)
	})
	if err != nil {
		return nil, err
	}
	s.Live.Publish(ctx, live.Event{Type: "message.created", ConversationID: conversationID, MessageID: msg.ID})
	return msg, nil
}

// Update changes status, assignee, team, priority or tags, recording each in
// the timeline and the audit log.
func (s *Service) Update(ctx context.Context, actor int64, conversationID int64, ch store.ConversationChange) (*store.Conversation, error) {
	if ch.Status != nil && !oneOf(*ch.Status, "open", "pending", "resolved", "snoozed") {
		return nil, fmt.Errorf("%w: status must be open, pending, resolved or snoozed", store.ErrInvalid)
	}
	if ch.Priority != nil && !oneOf(*ch.Priority, "none", "low", "medium", "high", "urgent") {
		return nil, fmt.Errorf("%w: priority must be none, low, medium, high or urgent", store.ErrInvalid)
	}
	for _, t := range append(append([]string{}, ch.AddTags...), ch.RemoveTags...) {
		if t == "" || len(t) > 64 || strings.ContainsAny(t, ", \t\n") {
			return nil, fmt.Errorf("%w: a tag is 1 to 64 characters without spaces or commas", store.ErrInvalid)
		}
	}
	conv, err := s.Store.UpdateConversation(ctx, conversationID, &actor, ch)
	if err != nil {
		return nil, err
	}
	_ = s.Store.Audit(ctx, nil, &actor, "user", "conversation.updated", "conversation", conversationID)
	s.Live.Publish(ctx, live.Event{Type: "conversation.updated", ConversationID: conversationID})
	return conv, nil
}

func oneOf(v string, set ...string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// Sign returns the signature header value of a webhook body:
// "t=<unix>,v1=<hex HMAC-SHA256 of t + "." + body>", keyed with the secret.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature made by Sign, within tolerance of now.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("malformed signature header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("signature timestamp outside tolerance")
	}
	want := Sign(secret, time.Unix(sec, 0), body)
	_, wantSig, _ := strings.Cut(want, ",v1=")
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(wantSig)) {
			return nil
		}
	}
	return errors.New("signature mismatch")
}
