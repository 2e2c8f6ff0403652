package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// The webhook payload of the Page object.
type msEnvelope struct {
	Object string `json:"object"`
	Entry  []struct {
		ID        string    `json:"id"`
		Time      int64     `json:"time"`
		Messaging []msEvent `json:"messaging"`
	} `json:"entry"`
}

type msEvent struct {
	Sender struct {
		ID string `json:"id"`
	} `json:"sender"`
	Recipient struct {
		ID string `json:"id"`
	} `json:"recipient"`
	Timestamp int64 `json:"timestamp"`
	Message   *struct {
		Mid         string `json:"mid"`
		Text        string `json:"text"`
		IsEcho      bool   `json:"is_echo"`
		Attachments []struct {
			Type    string `json:"type"`
			Payload *struct {
				URL   string `json:"url"`
				Title string `json:"title"`
			} `json:"payload"`
		} `json:"attachments"`
	} `json:"message"`
	Delivery *struct {
		Mids      []string `json:"mids"`
		Watermark int64    `json:"watermark"`
	} `json:"delivery"`
	Read *struct {
		Watermark int64 `json:"watermark"`
	} `json:"read"`
	Postback *struct {
		Mid     string `json:"mid"`
		Title   string `json:"title"`
		Payload string `json:"payload"`
	} `json:"postback"`
	Reaction *struct {
		Mid    string `json:"mid"`
		Action string `json:"action"`
		Emoji  string `json:"emoji"`
	} `json:"reaction"`
}

// parseMessenger reads a delivery strictly and returns the events of this
// Page: entries of other Pages are left out, and so are echoes of the
// Page's own messages.
func parseMessenger(body []byte, pageID string) ([]msEvent, error) {
	var env msEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("the body is not the JSON of a webhook: %v", err)
	}
	if env.Object != "page" {
		return nil, fmt.Errorf("object is %q, not page", env.Object)
	}
	var out []msEvent
	for _, e := range env.Entry {
		if e.ID != pageID {
			continue
		}
		for _, ev := range e.Messaging {
			if ev.Message != nil && ev.Message.IsEcho {
				continue
			}
			if !numericID(ev.Sender.ID) {
				return nil, errors.New("an event's sender is not a Messenger id")
			}
			switch {
			case ev.Message != nil:
				if ev.Message.Mid == "" || len(ev.Message.Mid) > 512 {
					return nil, errors.New("a message has no mid")
				}
			case ev.Delivery != nil:
				if ev.Delivery.Watermark <= 0 {
					return nil, errors.New("a delivery receipt has no watermark")
				}
			case ev.Read != nil:
				if ev.Read.Watermark <= 0 {
					return nil, errors.New("a read receipt has no watermark")
				}
			case ev.Postback != nil, ev.Reaction != nil:
			default:
				continue // optins, referrals, handovers: nothing for the inbox
			}
			out = append(out, ev)
		}
	}
	return out, nil
}

// ServeWebhook implements adapter.WebhookReceiver.
func (m *Messenger) ServeWebhook(ctx context.Context, r *http.Request, body []byte) (int, string, []byte, error) {
	token, secret, verifyToken, ok := m.creds()
	if !ok {
		return 0, "", nil, errClosed
	}
	switch r.Method {
	case http.MethodGet:
		return verifyHandshake(r, verifyToken)
	case http.MethodPost:
	default:
		return 0, "", nil, adapter.Rejected(http.StatusMethodNotAllowed, "unsupported", r.Method+" is not a webhook delivery")
	}
	if err := verifySignature(secret, r.Header.Get(SignatureHeader), body); err != nil {
		return 0, "", nil, err
	}
	events, err := parseMessenger(body, m.pageID)
	if err != nil {
		return 0, "", nil, malformed(err.Error())
	}
	for _, ev := range events {
		var err error
		switch {
		case ev.Message != nil:
			err = m.ingestMessage(ctx, token, secret, ev)
		case ev.Delivery != nil:
			err = m.receipt(ctx, ev.Sender.ID, ev.Delivery.Mids, ev.Delivery.Watermark, "delivered")
		case ev.Read != nil:
			err = m.receipt(ctx, ev.Sender.ID, nil, ev.Read.Watermark, "read")
		case ev.Postback != nil:
			id := ev.Postback.Mid
			if id == "" {
				id = fmt.Sprintf("postback:%s:%d", ev.Sender.ID, ev.Timestamp)
			}
			title := ev.Postback.Title
			if title == "" {
				title = "(pressed a button)"
			}
			err = m.ingest(ctx, token, secret, ev.Sender.ID, id, title, nil)
		case ev.Reaction != nil:
			text := "Removed a reaction"
			if ev.Reaction.Action == "react" {
				text = "Reacted " + ev.Reaction.Emoji + " to " + quoteMessage(ctx, m.deps.Store, m.key, ev.Reaction.Mid)
			}
			id := fmt.Sprintf("reaction:%s:%s:%d", ev.Reaction.Mid, ev.Reaction.Action, ev.Timestamp)
			err = m.ingest(ctx, token, secret, ev.Sender.ID, id, text, nil)
		}
		if err != nil {
			return 0, "", nil, err
		}
	}
	return okAnswer()
}

// ingestMessage stores a person's message with its attachments fetched.
func (m *Messenger) ingestMessage(ctx context.Context, token, secret string, ev msEvent) error {
	msg := ev.Message
	st := m.deps.Store
	if _, err := st.MessageByExternalID(ctx, st.Pool, m.key, msg.Mid); err == nil {
		return nil // a redelivery: skip the downloads
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	body := msg.Text
	var atts []*store.Attachment
	var notes []string
	for _, a := range msg.Attachments {
		switch a.Type {
		case "image", "video", "audio", "file":
			if a.Payload == nil || a.Payload.URL == "" {
				notes = append(notes, "("+a.Type+" without a URL)")
				continue
			}
			data, ct, err := download(ctx, m.graph.client, a.Payload.URL, "", MaxMedia)
			switch {
			case err == nil:
				name := filenameFromURL(a.Payload.URL)
				if name == "" {
					name = filenameFor(a.Type, ct)
				}
				atts = append(atts, attachment(data, name, ct))
			case errors.Is(err, errMediaGone):
				notes = append(notes, fmt.Sprintf("(%s not stored: %v)", a.Type, err))
			default:
				return err
			}
		case "fallback":
			if a.Payload != nil {
				notes = append(notes, strings.TrimSpace(a.Payload.Title+" "+a.Payload.URL))
			}
		default:
			notes = append(notes, "(a "+a.Type+" attachment)")
		}
	}
	if len(notes) > 0 {
		body = strings.TrimSpace(body + "\n" + strings.Join(notes, "\n"))
	}
	if strings.TrimSpace(body) == "" && len(atts) == 0 {
		body = "(an empty message)"
	}
	return m.ingest(ctx, token, secret, ev.Sender.ID, msg.Mid, body, atts)
}

func (m *Messenger) ingest(ctx context.Context, token, secret, psid, id, body string, atts []*store.Attachment) error {
	name := m.profileName(ctx, token, secret, psid)
	_, err := m.deps.Inbox.Ingest(ctx, inbox.Inbound{Channel: m.key, Identifier: psid, ContactName: name,
		ExternalID: id, Body: body, Attachments: atts})
	return err
}

// receipt applies a delivery or read receipt: the mids it names, and every
// message to the person sent up to its watermark.
func (m *Messenger) receipt(ctx context.Context, psid string, mids []string, watermark int64, status string) error {
	for _, mid := range mids {
		if _, err := m.deps.Inbox.ProviderStatus(ctx, m.key, mid, status, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	moved, err := m.deps.Store.AdvanceDeliveryUpTo(ctx, m.key, psid, time.UnixMilli(watermark), status, "", inbox.StatusForward)
	if err != nil {
		return err
	}
	if hub := m.deps.Inbox.Live; hub != nil {
		for _, mv := range moved {
			hub.Publish(ctx, live.Event{Type: "message.updated", ConversationID: mv.ConversationID, MessageID: mv.MessageID})
		}
	}
	return nil
}

// quoteMessage names the message a reaction is about: its first words
// when it is in the inbox.
func quoteMessage(ctx context.Context, st *store.Store, channel, id string) string {
	if id != "" {
		if msg, err := st.MessageByExternalID(ctx, st.Pool, channel, id); err == nil && msg.Body != "" {
			body := []rune(strings.Join(strings.Fields(msg.Body), " "))
			if len(body) > 60 {
				body = append(body[:60], '…')
			}
			return "“" + string(body) + "”"
		}
	}
	return "a message"
}
