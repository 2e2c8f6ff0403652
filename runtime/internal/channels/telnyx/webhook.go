package telnyx

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Webhook signature headers.
const (
	HeaderSignature = "Telnyx-Signature-Ed25519"
	HeaderTimestamp = "Telnyx-Timestamp"
)

// Tolerance is how far a webhook's timestamp may be from now, either way
// (the Telnyx SDKs' default).
const Tolerance = 300 * time.Second

// Signature errors, for Reject reasons.
var (
	ErrSignature = errors.New("missing or invalid signature")
	ErrTimestamp = errors.New("timestamp missing or outside the tolerance")
)

// Verify checks a Telnyx webhook: signature is the base64 of the Ed25519
// signature of timestamp + "|" + body, and timestamp (Unix seconds) must be
// within Tolerance of now. The error is ErrSignature or ErrTimestamp.
func Verify(pub ed25519.PublicKey, signature, timestamp string, body []byte, now time.Time) error {
	if len(pub) != ed25519.PublicKeySize {
		return ErrSignature
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	// Compare in seconds: a time.Duration of an absurd timestamp overflows.
	if d := now.Unix() - sec; d > int64(Tolerance/time.Second) || d < -int64(Tolerance/time.Second) {
		return ErrTimestamp
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(signature))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return ErrSignature
	}
	msg := make([]byte, 0, len(timestamp)+1+len(body))
	msg = append(append(append(msg, strings.TrimSpace(timestamp)...), '|'), body...)
	if !ed25519.Verify(pub, msg, sig) {
		return ErrSignature
	}
	return nil
}

// Event types this adapter acts on.
const (
	EventReceived  = "message.received"
	EventSent      = "message.sent"
	EventFinalized = "message.finalized"
)

// Event is a webhook's envelope, with the message payload of message.*
// events.
type Event struct {
	ID         string
	Type       string
	OccurredAt time.Time // zero when absent
	Message    *Message  // message.* events only
}

// Message is the payload of a message.* event.
type Message struct {
	ID         string     `json:"id"`
	Direction  string     `json:"direction"`
	Type       string     `json:"type"`
	Text       string     `json:"text"`
	From       Party      `json:"from"`
	To         []Party    `json:"to"`
	Media      []Media    `json:"media"`
	Errors     []apiError `json:"errors"`
	ReceivedAt string     `json:"received_at"`
}

// Party is a sender or recipient.
type Party struct {
	PhoneNumber string `json:"phone_number"`
	Status      string `json:"status"`
	Carrier     string `json:"carrier"`
	LineType    string `json:"line_type"`
}

// Media is an MMS file; Telnyx may send nulls for all but url.
type Media struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
}

// ParseEvent parses a webhook body. It checks the shape the adapter relies
// on, not the signature (Verify does).
func ParseEvent(body []byte) (*Event, error) {
	var env struct {
		Data *struct {
			ID         string          `json:"id"`
			EventType  string          `json:"event_type"`
			OccurredAt string          `json:"occurred_at"`
			Payload    json.RawMessage `json:"payload"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("not a JSON event: %w", err)
	}
	if env.Data == nil || env.Data.EventType == "" {
		return nil, errors.New("no data.event_type")
	}
	ev := &Event{ID: env.Data.ID, Type: env.Data.EventType}
	if env.Data.OccurredAt != "" {
		t, err := time.Parse(time.RFC3339Nano, env.Data.OccurredAt)
		if err != nil {
			return nil, errors.New("data.occurred_at is not an RFC 3339 time")
		}
		ev.OccurredAt = t
	}
	if !strings.HasPrefix(ev.Type, "message.") {
		return ev, nil
	}
	if len(env.Data.Payload) == 0 || string(env.Data.Payload) == "null" {
		return nil, errors.New("a message event without data.payload")
	}
	var m Message
	if err := json.Unmarshal(env.Data.Payload, &m); err != nil {
		return nil, fmt.Errorf("data.payload: %w", err)
	}
	if m.ID == "" {
		return nil, errors.New("data.payload.id is missing")
	}
	ev.Message = &m
	return ev, nil
}

// ServeWebhook verifies and applies one Telnyx delivery: an inbound
// message, or a status report on one of our replies. Events for another
// number of the same account (a messaging profile shared by several
// numbers) and event types we do not use are acknowledged and ignored, so
// that Telnyx does not retry them.
func (a *Adapter) ServeWebhook(ctx context.Context, r *http.Request, body []byte) (int, string, []byte, error) {
	if r.Method != http.MethodPost {
		return 0, "", nil, adapter.Rejected(http.StatusMethodNotAllowed, "unsupported", "Telnyx webhooks are POSTs, got "+r.Method)
	}
	pub, ok := a.publicKey()
	if !ok {
		return 0, "", nil, errors.New("the Telnyx integration was closed")
	}
	now := a.d.Clock()
	switch err := Verify(pub, r.Header.Get(HeaderSignature), r.Header.Get(HeaderTimestamp), body, now); {
	case errors.Is(err, ErrTimestamp):
		return 0, "", nil, adapter.Rejected(http.StatusBadRequest, adapter.RejectTimestamp, "telnyx-timestamp missing or more than 300 s from now")
	case err != nil:
		return 0, "", nil, adapter.Rejected(http.StatusUnauthorized, adapter.RejectSignature, "telnyx-signature-ed25519 missing or not valid for the body")
	}
	ev, err := ParseEvent(body)
	if err != nil {
		return 0, "", nil, adapter.Rejected(http.StatusBadRequest, adapter.RejectMalformed, err.Error())
	}
	switch ev.Type {
	case EventReceived:
		err = a.received(ctx, ev)
	case EventSent, EventFinalized:
		err = a.status(ctx, ev, now)
	}
	if err != nil {
		return 0, "", nil, err
	}
	return http.StatusOK, "application/json", []byte(`{"ok":true}`), nil
}

// received ingests an inbound SMS or MMS, deduplicated on Telnyx's message
// id: a retried webhook changes nothing.
func (a *Adapter) received(ctx context.Context, ev *Event) error {
	m := ev.Message
	if !a.addressedToUs(m.To) {
		a.d.Log.Info("telnyx: ignored an inbound message for another number", "event", ev.ID)
		return nil
	}
	from := strings.TrimSpace(m.From.PhoneNumber)
	if from == "" {
		return adapter.Rejected(http.StatusBadRequest, adapter.RejectMalformed, "data.payload.from.phone_number is missing")
	}
	in := inbox.Inbound{Channel: a.d.Key, Identifier: from, ExternalID: m.ID, Body: m.Text}
	if len(m.Media) > 0 {
		// A retry of a message we have needs no second download.
		if _, err := a.d.Inbox.Store.MessageByExternalID(ctx, a.d.Inbox.Store.Pool, a.d.Key, m.ID); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var notes []string
		in.Attachments, notes = a.fetchMedia(ctx, m.Media)
		if len(notes) > 0 {
			in.Body = strings.TrimSpace(in.Body + "\n\n" + strings.Join(notes, "\n"))
		}
	}
	if strings.TrimSpace(in.Body) == "" && len(in.Attachments) == 0 {
		in.Body = "(empty message)"
	}
	_, err := a.d.Inbox.Ingest(ctx, in)
	return err
}

func (a *Adapter) addressedToUs(to []Party) bool {
	for _, p := range to {
		if strings.TrimSpace(p.PhoneNumber) == a.phone {
			return true
		}
	}
	return false
}

// statusOf maps Telnyx's recipient status to the inbox's delivery
// statuses; "" is a status with nothing to record (scheduled, queued,
// sending).
func statusOf(s string) string {
	switch s {
	case "sent", "delivery_unconfirmed":
		// delivery_unconfirmed: the carrier sent no receipt. It left us.
		return "sent"
	case "delivered":
		return "delivered"
	case "delivery_failed", "sending_failed", "expired", "cancelled":
		return "failed"
	}
	return ""
}

// unknownGrace is how long a report on a message id we do not know is
// refused (so that Telnyx retries it) rather than dropped: the outbox
// records Telnyx's id just after the send returns, and the first report
// may overtake it.
const unknownGrace = 2 * time.Minute

// status applies a delivery report to the reply it is about. Reports move
// a message's status only forward: a late "sent" after "delivered", or a
// duplicate, changes nothing.
func (a *Adapter) status(ctx context.Context, ev *Event, now time.Time) error {
	m := ev.Message
	if strings.TrimSpace(m.From.PhoneNumber) != a.phone || len(m.To) == 0 {
		a.d.Log.Info("telnyx: ignored a status report for another number", "event", ev.ID)
		return nil
	}
	st := statusOf(m.To[0].Status)
	if st == "" {
		return nil
	}
	detail := ""
	if st == "failed" {
		detail = "Telnyx: " + m.To[0].Status
		if len(m.Errors) > 0 {
			detail = "Telnyx: " + m.Errors[0].summary()
		}
	}
	_, err := a.d.Inbox.ProviderStatus(ctx, a.d.Key, m.ID, st, detail)
	if errors.Is(err, store.ErrNotFound) {
		if !ev.OccurredAt.IsZero() && now.Sub(ev.OccurredAt) < unknownGrace {
			return fmt.Errorf("a %s report on Telnyx message %s, which is not recorded yet", st, m.ID)
		}
		return nil // sent before this workspace connected the number
	}
	return err
}
