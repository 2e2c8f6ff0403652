package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Message is one message of a conversation, or a private note.
type Message struct {
	ID             int64         `json:"id"`
	ConversationID int64         `json:"conversationId"`
	Channel        string        `json:"channel"`
	Direction      string        `json:"direction"`
	AuthorID       *int64        `json:"authorId,omitempty"`
	Body           string        `json:"body"`
	ExternalID     *string       `json:"externalId,omitempty"`
	DeliveryStatus *string       `json:"deliveryStatus,omitempty"`
	CreatedAt      time.Time     `json:"createdAt"`
	Attachments    []*Attachment `json:"attachments,omitempty"`
}

// Attachment is a file of a message. Its bytes live in the database.
type Attachment struct {
	ID          int64  `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	Data        []byte `json:"-"`
}

const msgCols = `id, conversation_id, channel, direction, author_id, body, external_id, delivery_status, created_at`

func scanMsg(row pgx.Row) (*Message, error) {
	m := &Message{}
	err := row.Scan(&m.ID, &m.ConversationID, &m.Channel, &m.Direction, &m.AuthorID, &m.Body, &m.ExternalID, &m.DeliveryStatus, &m.CreatedAt)
	return m, notFound(err)
}

// MessageByExternalID finds a message by its sender's id.
func (s *Store) MessageByExternalID(ctx context.Context, q Querier, channel, externalID string) (_ *Message, err error) {
	defer wrap(&err, "MessageByExternalID(%q)", channel)
	return scanMsg(q.QueryRow(ctx, `SELECT `+msgCols+` FROM messages WHERE channel = $1 AND external_id = $2`, channel, externalID))
}

// InsertMessage adds a message and bumps its conversation. A duplicate
// (channel, external id) gives ErrConflict and changes nothing.
func (s *Store) InsertMessage(ctx context.Context, q Querier, m *Message) (_ *Message, err error) {
	defer wrap(&err, "InsertMessage(%d)", m.ConversationID)
	out, err := scanMsg(q.QueryRow(ctx, `INSERT INTO messages (conversation_id, channel, direction, author_id, body, external_id, delivery_status)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (channel, external_id) WHERE external_id IS NOT NULL DO NOTHING
		RETURNING `+msgCols, m.ConversationID, m.Channel, m.Direction, m.AuthorID, m.Body, m.ExternalID, m.DeliveryStatus))
	if err == ErrNotFound {
		return nil, ErrConflict
	}
	if err != nil {
		return nil, err
	}
	if m.Direction != "note" {
		// An incoming message reopens a resolved or snoozed conversation.
		// The same statement counts the message in usage_events.
		reopen := m.Direction == "incoming"
		kind := UsageMessageReceived
		if m.Direction == "outgoing" {
			kind = UsageMessageSent
		}
		if _, err := q.Exec(ctx, `WITH c AS (UPDATE conversations SET last_message_at = $2, updated_at = now(),
				status = CASE WHEN $3 AND status IN ('resolved', 'snoozed') THEN 'open' ELSE status END,
				snoozed_until = CASE WHEN $3 AND status IN ('resolved', 'snoozed') THEN NULL ELSE snoozed_until END
				WHERE id = $1 RETURNING contact_id)
			INSERT INTO usage_events (kind, user_id, contact_id, conversation_id, message_id, channel)
			SELECT $4, $5, contact_id, $1, $6, $7 FROM c`,
			m.ConversationID, out.CreatedAt, reopen, kind, m.AuthorID, out.ID, m.Channel); err != nil {
			return nil, err
		}
	}
	for _, a := range m.Attachments {
		if err := q.QueryRow(ctx, `INSERT INTO attachments (message_id, filename, content_type, size, sha256, data)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, out.ID, a.Filename, a.ContentType, a.Size, a.SHA256, a.Data).Scan(&a.ID); err != nil {
			return nil, err
		}
		out.Attachments = append(out.Attachments, a)
	}
	if out.DeliveryStatus != nil {
		if _, err := q.Exec(ctx, `INSERT INTO delivery_events (message_id, status) VALUES ($1, $2)`, out.ID, *out.DeliveryStatus); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Messages lists a conversation's messages, oldest first, with attachment metadata.
func (s *Store) Messages(ctx context.Context, conversationID int64) (_ []*Message, err error) {
	defer wrap(&err, "Messages(%d)", conversationID)
	rows, err := s.Pool.Query(ctx, `SELECT `+msgCols+` FROM messages WHERE conversation_id = $1 ORDER BY id`, conversationID)
	if err != nil {
		return nil, err
	}
	var out []*Message
	byID := map[int64]*Message{}
	for rows.Next() {
		m, err := scanMsg(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, m)
		byID[m.ID] = m
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	arows, err := s.Pool.Query(ctx, `SELECT a.id, a.message_id, a.filename, a.content_type, a.size, a.sha256 FROM attachments a
		JOIN messages m ON m.id = a.message_id WHERE m.conversation_id = $1 ORDER BY a.id`, conversationID)
	if err != nil {
		return nil, err
	}
	defer arows.Close()
	for arows.Next() {
		a := &Attachment{}
		var mid int64
		if err := arows.Scan(&a.ID, &mid, &a.Filename, &a.ContentType, &a.Size, &a.SHA256); err != nil {
			return nil, err
		}
		if m := byID[mid]; m != nil {
			m.Attachments = append(m.Attachments, a)
		}
	}
	return out, arows.Err()
}

// AttachmentData returns an attachment with its bytes.
func (s *Store) AttachmentData(ctx context.Context, id int64) (_ *Attachment, err error) {
	defer wrap(&err, "AttachmentData(%d)", id)
	a := &Attachment{}
	err = s.Pool.QueryRow(ctx, `SELECT id, filename, content_type, size, sha256, coalesce(data, '') FROM attachments WHERE id = $1`, id).
		Scan(&a.ID, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.Data)
	return a, notFound(err)
}

// MessageAttachmentsData returns a message's attachments with their bytes,
// in the order they were stored.
func (s *Store) MessageAttachmentsData(ctx context.Context, messageID int64) (_ []*Attachment, err error) {
	defer wrap(&err, "MessageAttachmentsData(%d)", messageID)
	rows, err := s.Pool.Query(ctx, `SELECT id, filename, content_type, size, sha256, coalesce(data, '') FROM attachments
		WHERE message_id = $1 ORDER BY id`, messageID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Attachment, error) {
		a := &Attachment{}
		return a, row.Scan(&a.ID, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.Data)
	})
}

// DeliveryEvent is one step of an outgoing message's delivery.
type DeliveryEvent struct {
	Status string    `json:"status"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// RecordDelivery appends a delivery event to an outgoing message and sets
// its status. It returns the message's conversation.
func (s *Store) RecordDelivery(ctx context.Context, messageID int64, status, detail string) (conversationID int64, err error) {
	defer wrap(&err, "RecordDelivery(%d, %q)", messageID, status)
	err = s.Transact(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE messages SET delivery_status = $2 WHERE id = $1 AND direction = 'outgoing' RETURNING conversation_id`,
			messageID, status).Scan(&conversationID)
		if err != nil {
			return notFound(err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO delivery_events (message_id, status, detail) VALUES ($1, $2, $3)`, messageID, status, detail)
		return err
	})
	return conversationID, err
}

// DeliveryEvents lists a message's delivery history.
func (s *Store) DeliveryEvents(ctx context.Context, messageID int64) (_ []DeliveryEvent, err error) {
	defer wrap(&err, "DeliveryEvents(%d)", messageID)
	rows, err := s.Pool.Query(ctx, `SELECT status, detail, at FROM delivery_events WHERE message_id = $1 ORDER BY at, id`, messageID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[DeliveryEvent])
}
