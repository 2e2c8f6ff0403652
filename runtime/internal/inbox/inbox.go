// Package inbox is the shared inbox's service layer: it ingests messages from
// channels, sends agents' replies through them, and records every change in
// the conversation timeline, the audit log and the live feed.
package inbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Channel is how a conversation's messages leave the workspace: each channel
// adapter implements it (package channels has the built-in API channel).
type Channel interface {
	// Name is the channel's name as stored on conversations ("api", "whatsapp", ...).
	Name() string
	// Deliver sends an agent's reply. It runs from the outbox worker, after the
	// reply is committed, and may be retried: it must be idempotent on
	// Outbound.MessageID where its provider allows (else see AtMostOnce).
	// It returns the provider's id for the message.
	Deliver(ctx context.Context, out Outbound) (providerID string, err error)
}

// AtMostOnce is implemented by a channel whose provider cannot recognise a
// repeated send (it has no idempotency key: Meta's Graph API, Telnyx). The
// outbox never repeats an attempt of such a channel that may have reached
// the provider: a delivery interrupted mid-attempt (its replica died) ends
// "unconfirmed", as does a send the channel reports as
// adapter.Unconfirmed, and an agent decides whether to send it again.
// Channels without it (the API channel, whose receiver deduplicates on
// X-Switchboard-Delivery; email, which repeats the same Message-ID) are
// retried.
type AtMostOnce interface {
	Channel
	AtMostOnce()
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
	// Template is set for a template message (WhatsApp outside the 24-hour
	// window); Body then holds the template's text as the agent saw it.
	Template *TemplateMessage `json:"template,omitempty"`
	// Tag is a channel's message tag for a reply outside its standard
	// window (Messenger's HUMAN_AGENT), chosen by the channel's Window.
	Tag string `json:"tag,omitempty"`
	// Files is how many files the reply carries (LoadFiles reads them).
	Files int `json:"files,omitempty"`
}

// LoadFiles reads the reply's files, with their bytes; a reply of text
// alone costs no query, so a channel calls it on every delivery.
func (out Outbound) LoadFiles(ctx context.Context, st *store.Store) ([]*store.Attachment, error) {
	if out.Files == 0 {
		return nil, nil
	}
	files, err := st.MessageAttachmentsData(ctx, out.MessageID)
	if err != nil {
		return nil, fmt.Errorf("reading the reply's files: %w", err)
	}
	return files, nil
}

// TemplateMessage is an approved template with its variables filled in.
type TemplateMessage struct {
	Name     string   `json:"name"`
	Language string   `json:"language"`
	Params   []string `json:"params,omitempty"`
}

// Errors callers map to 4xx.
var (
	ErrEmpty   = errors.New("the message is empty")
	ErrTooLong = errors.New("the message is too long")
	// ErrReadOnly is the CRM's restriction: a restricted contact is read-only.
	ErrReadOnly  = store.ErrRestricted
	ErrNoChannel = errors.New("the conversation's channel is not connected")
	// ErrOutsideWindow: the channel allows no free-form reply now (the
	// error says what it does allow).
	ErrOutsideWindow = errors.New("outside the channel's messaging window")
)

// MaxBody is the longest message body accepted, in bytes.
const MaxBody = 64 << 10

// Service is the inbox.
type Service struct {
	Store    *store.Store
	Live     *live.Hub
	channels map[string]Channel
	// Resolve finds channels that come and go (Integrations); nil finds
	// only the fixed ones given to New.
	Resolve func(name string) (Channel, bool)
	// Now is the clock of messaging windows; nil is time.Now.
	Now func() time.Time
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
	if c, ok := s.channels[name]; ok {
		return c, true
	}
	if s.Resolve != nil {
		return s.Resolve(name)
	}
	return nil, false
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
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

// Reply stores an agent's reply as queued and hands it to the outbox, in one
// transaction, so a reply is never lost nor sent twice by a crash.
func (s *Service) Reply(ctx context.Context, actor int64, conversationID int64, body string) (*store.Message, error) {
	return s.reply(ctx, actor, conversationID, body, nil, nil)
}

// ReplyWithFiles is Reply with files attached, on a channel that sends them
// (AttachmentSender); the body may then be empty. The files are stored
// with the reply, in the same transaction.
func (s *Service) ReplyWithFiles(ctx context.Context, actor int64, conversationID int64, body string, files []File) (*store.Message, error) {
	return s.reply(ctx, actor, conversationID, body, nil, files)
}

// ReplyTemplate sends an approved template, with its variables, where the
// channel's window allows templates only (or anywhere the channel takes
// them). body is the template's text with the variables filled in, as the
// agent saw it: it is what the conversation shows.
func (s *Service) ReplyTemplate(ctx context.Context, actor int64, conversationID int64, t TemplateMessage, body string) (*store.Message, error) {
	if t.Name == "" || t.Language == "" {
		return nil, fmt.Errorf("%w: a template needs a name and a language", store.ErrInvalid)
	}
	return s.reply(ctx, actor, conversationID, body, &t, nil)
}

func (s *Service) reply(ctx context.Context, actor int64, conversationID int64, body string, tmpl *TemplateMessage, files []File) (*store.Message, error) {
	if err := checkBody(body); err != nil && (len(files) == 0 || !errors.Is(err, ErrEmpty)) {
		return nil, err
	}
	var msg *store.Message
	err := s.Store.Audited(ctx, &actor, "message.sent", "message", func(tx pgx.Tx) (int64, error) {
		conv, err := s.Store.ConversationByID(ctx, tx, conversationID)
		if err != nil {
			return 0, err
		}
		contact, err := s.Store.ContactByID(ctx, tx, conv.ContactID)
		if err != nil {
			return 0, err
		}
		if contact.ProcessingRestricted {
			return 0, ErrReadOnly
		}
		ch, ok := s.Channel(conv.Channel)
		if !ok {
			return 0, ErrNoChannel
		}
		atts, err := attachments(ch, body, files)
		if err != nil {
			return 0, err
		}
		var tag string
		if w, ok := ch.(Windowed); ok {
			last, err := s.Store.LastIncomingAt(ctx, tx, conversationID)
			if err != nil {
				return 0, err
			}
			win := w.ReplyWindow(last, s.now())
			switch {
			case tmpl != nil && !win.Templates:
				return 0, fmt.Errorf("%w: this channel sends no templates", store.ErrInvalid)
			case tmpl == nil && !win.FreeForm:
				return 0, fmt.Errorf("%w: %s", ErrOutsideWindow, win.Explain)
			}
			tag = win.Tag
		} else if tmpl != nil {
			return 0, fmt.Errorf("%w: this channel sends no templates", store.ErrInvalid)
		}
		identifier, err := s.Store.ContactIdentifier(ctx, tx, conv.ContactID, conv.Channel)
		if err != nil {
			return 0, err
		}
		queued := "queued"
		msg, err = s.Store.InsertMessage(ctx, tx, &store.Message{ConversationID: conversationID, Channel: conv.Channel,
			Direction: "outgoing", AuthorID: &actor, Body: body, DeliveryStatus: &queued, Attachments: atts})
		if err != nil {
			return 0, err
		}
		out := Outbound{MessageID: msg.ID, ConversationID: conversationID, Channel: conv.Channel, Identifier: identifier,
			Body: body, AuthorID: actor, CreatedAt: msg.CreatedAt, Template: tmpl, Tag: tag, Files: len(atts)}
		return msg.ID, s.Store.Enqueue(ctx, tx, "deliver", &msg.ID, out)
	})
	if err != nil {
		return nil, err
	}
	s.Live.Publish(ctx, live.Event{Type: "message.created", ConversationID: conversationID, MessageID: msg.ID})
	return msg, nil
}

// Note adds a private note, seen by the team only. The members it mentions
// ("@Alex Agent", see Mentioned) are notified, except its author.
func (s *Service) Note(ctx context.Context, actor int64, conversationID int64, body string) (*store.Message, error) {
	if err := checkBody(body); err != nil {
		return nil, err
	}
	var msg *store.Message
	var mentioned []int64
	err := s.Store.Audited(ctx, &actor, "note.created", "message", func(tx pgx.Tx) (int64, error) {
		conv, err := s.Store.ConversationByID(ctx, tx, conversationID)
		if err != nil {
			return 0, err
		}
		msg, err = s.Store.InsertMessage(ctx, tx, &store.Message{ConversationID: conversationID, Channel: conv.Channel,
			Direction: "note", AuthorID: &actor, Body: body})
		if err != nil {
			return 0, err
		}
		// The members it mentions are told with it, or not at all.
		mentioned, err = s.notifyMentions(ctx, tx, actor, msg)
		return msg.ID, err
	})
	if err != nil {
		return nil, err
	}
	s.Live.Publish(ctx, live.Event{Type: "message.created", ConversationID: conversationID, MessageID: msg.ID})
	s.publishNotifications(ctx, mentioned)
	return msg, nil
}

// statuses are what a conversation's status may be.
var statuses = []string{"open", "pending", "resolved", "snoozed"}

// Priorities are what a conversation's priority may be, lowest first.
var Priorities = []string{"none", "low", "medium", "high", "urgent"}

// Update changes status, assignee, team, priority or tags, recording each in
// the timeline, and the change in the audit log, in one transaction.
func (s *Service) Update(ctx context.Context, actor int64, conversationID int64, ch store.ConversationChange) (*store.Conversation, error) {
	if ch.Status != nil && !slices.Contains(statuses, *ch.Status) {
		return nil, fmt.Errorf("%w: status must be open, pending, resolved or snoozed", store.ErrInvalid)
	}
	if ch.Priority != nil && !slices.Contains(Priorities, *ch.Priority) {
		return nil, fmt.Errorf("%w: priority must be none, low, medium, high or urgent", store.ErrInvalid)
	}
	for _, t := range slices.Concat(ch.AddTags, ch.RemoveTags) {
		if t == "" || len(t) > 64 || strings.ContainsAny(t, ", \t\n") {
			return nil, fmt.Errorf("%w: a tag is 1 to 64 characters without spaces or commas", store.ErrInvalid)
		}
	}
	var conv *store.Conversation
	err := s.Store.Audited(ctx, &actor, "conversation.updated", "conversation", func(tx pgx.Tx) (_ int64, err error) {
		conv, err = s.Store.UpdateConversation(ctx, tx, conversationID, &actor, ch)
		return conversationID, err
	})
	if err != nil {
		return nil, err
	}
	s.Live.Publish(ctx, live.Event{Type: "conversation.updated", ConversationID: conversationID})
	return conv, nil
}
