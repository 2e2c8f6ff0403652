package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// Inbound is a message arriving from a contact.
type Inbound struct {
	Channel     string
	Identifier  string // the contact as the channel names them
	ContactName string
	ExternalID  string // the sender's message id, for deduplication
	Subject     string
	Body        string
	Attachments []*Attachment
}

// IngestResult says what an inbound message became.
type IngestResult struct {
	Message      *Message
	Conversation *Conversation
	Duplicate    bool // the external id was seen before: nothing changed
	NewContact   bool
	NewConv      bool
}

// Ingest stores an inbound message: it finds or creates the contact, continues
// the contact's latest unresolved conversation on the channel or opens a new
// one, and deduplicates on (channel, external id), so a retry never creates a
// second message.
func (s *Store) Ingest(ctx context.Context, in Inbound) (*IngestResult, error) {
	for attempt := 0; ; attempt++ {
		res, err := s.ingestOnce(ctx, in)
		// Two first messages from one new contact race on its identity: the
		// loser retries and finds the winner's contact.
		if errors.Is(err, ErrConflict) && attempt < 3 {
			continue
		}
		return res, err
	}
}

func (s *Store) ingestOnce(ctx context.Context, in Inbound) (*IngestResult, error) {
	res := &IngestResult{}
	err := s.Transact(ctx, func(tx pgx.Tx) error {
		if in.ExternalID != "" {
			m, err := s.MessageByExternalID(ctx, tx, in.Channel, in.ExternalID)
			if err == nil {
				res.Duplicate, res.Message = true, m
				res.Conversation, err = s.ConversationByID(ctx, tx, m.ConversationID)
				return err
			}
			if err != ErrNotFound {
				return err
			}
		}
		contact, created, err := s.ContactForIdentity(ctx, tx, in.Channel, in.Identifier, in.ContactName)
		if err != nil {
			return err
		}
		res.NewContact = created
		var convID int64
		err = tx.QueryRow(ctx, `SELECT id FROM conversations WHERE contact_id = $1 AND channel = $2 AND status <> 'resolved'
			ORDER BY last_message_at DESC, id DESC LIMIT 1 FOR UPDATE`, contact.ID, in.Channel).Scan(&convID)
		if errors.Is(err, pgx.ErrNoRows) {
			err = tx.QueryRow(ctx, `INSERT INTO conversations (channel, contact_id, subject) VALUES ($1, $2, $3) RETURNING id`,
				in.Channel, contact.ID, in.Subject).Scan(&convID)
			res.NewConv = true
		}
		if err != nil {
			return err
		}
		var ext *string
		if in.ExternalID != "" {
			ext = &in.ExternalID
		}
		m, err := s.InsertMessage(ctx, tx, &Message{ConversationID: convID, Channel: in.Channel, Direction: "incoming",
			Body: in.Body, ExternalID: ext, Attachments: in.Attachments})
		if err != nil {
			return err
		}
		res.Message = m
		res.Conversation, err = s.ConversationByID(ctx, tx, convID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
