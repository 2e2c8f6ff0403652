package inbox

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Inbound is a message arriving from a contact.
type Inbound struct {
	Channel     string
	Identifier  string // the contact as the channel names them
	ContactName string
	ExternalID  string // the sender's message id, for deduplication
	Subject     string
	Body        string
	Attachments []*store.Attachment
	// ConversationID continues that conversation (an email reply the
	// channel threaded itself), reopening it if resolved; 0 lets Ingest
	// choose: the contact's latest unresolved conversation on the channel,
	// or a new one. It must be a conversation of the same channel.
	ConversationID int64
	// NewConversation opens a new conversation even if one is unresolved
	// (an email with a new subject and no references).
	NewConversation bool
}

// IngestResult says what an inbound message became.
type IngestResult struct {
	Message      *store.Message
	Conversation *store.Conversation
	Duplicate    bool // the external id was seen before: nothing changed
	NewContact   bool
	NewConv      bool
}

// Ingest stores an inbound message with its audit entry, in one
// transaction, and announces it. It finds or creates the contact, continues
// the contact's latest unresolved conversation on the channel or opens a new
// one, and deduplicates on (channel, external id): a retry returns the
// original message with Duplicate set, changes nothing and announces
// nothing.
//
// Most messages (no attachments, no conversation chosen by the channel)
// take store.RecordIncoming, which stores concurrent messages together in
// one statement, and their share of a live event batch; the others a
// transaction of a statement per step.
func (s *Service) Ingest(ctx context.Context, in Inbound) (*IngestResult, error) {
	if err := checkBody(in.Body); err != nil && len(in.Attachments) == 0 {
		return nil, err
	}
	oneStatement := in.ConversationID == 0 && !in.NewConversation && len(in.Attachments) == 0
	for attempt := 0; ; attempt++ {
		var res *IngestResult
		var err error
		if oneStatement {
			res, err = s.record(ctx, in)
		} else {
			res, err = s.ingestOnce(ctx, in)
		}
		// Two first messages from one new contact race on its identity, and
		// two deliveries of one message on its external id: the loser
		// retries and finds the winner's contact or message.
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !res.Duplicate {
			s.Live.Publish(ctx, live.Event{Type: "message.created", ConversationID: res.Conversation.ID, MessageID: res.Message.ID})
		}
		return res, nil
	}
}

func (s *Service) record(ctx context.Context, in Inbound) (*IngestResult, error) {
	r, err := s.Store.RecordIncoming(ctx, store.Incoming{Channel: in.Channel, Identifier: in.Identifier, Body: in.Body,
		ExternalID: in.ExternalID, ContactName: in.ContactName, Subject: in.Subject})
	if err != nil {
		return nil, err
	}
	return &IngestResult{Message: r.Message, Conversation: r.Conversation, Duplicate: r.Duplicate, NewContact: r.NewContact, NewConv: r.NewConv}, nil
}

func (s *Service) ingestOnce(ctx context.Context, in Inbound) (*IngestResult, error) {
	res := &IngestResult{}
	err := s.Store.Transact(ctx, func(tx pgx.Tx) error {
		if in.ExternalID != "" {
			m, err := s.Store.MessageByExternalID(ctx, tx, in.Channel, in.ExternalID)
			if err == nil {
				res.Duplicate, res.Message = true, m
				res.Conversation, err = s.Store.ConversationByID(ctx, tx, m.ConversationID)
				return err
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		contact, created, err := s.Store.ContactForIdentity(ctx, tx, in.Channel, in.Identifier, in.ContactName)
		if err != nil {
			return err
		}
		res.NewContact = created
		var convID int64
		switch {
		case in.ConversationID != 0:
			conv, cerr := s.Store.ConversationByID(ctx, tx, in.ConversationID)
			if cerr == nil && conv.Channel == in.Channel {
				convID = conv.ID
			} else if cerr != nil && !errors.Is(cerr, store.ErrNotFound) {
				return cerr
			}
		case !in.NewConversation && !created: // a new contact has no conversation yet
			convID, err = s.Store.UnresolvedConversation(ctx, tx, contact.ID, in.Channel)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if convID == 0 {
			convID, err = s.Store.CreateConversation(ctx, tx, in.Channel, contact.ID, in.Subject)
			res.NewConv = true
			if err != nil {
				return err
			}
		}
		if len(in.Attachments) == 0 {
			res.Message, res.Conversation, err = s.Store.InsertIncoming(ctx, tx, convID, store.Incoming{Channel: in.Channel,
				Identifier: in.Identifier, Body: in.Body, ExternalID: in.ExternalID})
			return err
		}
		var ext *string
		if in.ExternalID != "" {
			ext = &in.ExternalID
		}
		m, err := s.Store.InsertMessage(ctx, tx, &store.Message{ConversationID: convID, Channel: in.Channel, Direction: "incoming",
			Body: in.Body, ExternalID: ext, Attachments: in.Attachments})
		if err != nil {
			return err
		}
		res.Message = m
		if res.Conversation, err = s.Store.ConversationByID(ctx, tx, convID); err != nil {
			return err
		}
		return s.Store.Audit(ctx, tx, nil, "system", "message.received", "message", m.ID)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
