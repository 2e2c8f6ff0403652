package email

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// position is where a mailbox's sync stands.
type position struct {
	known       bool
	uidValidity uint32
	lastUID     uint32
}

func (e *Engine) position(ctx context.Context, mailbox string) (position, error) {
	var uv, last int64
	err := e.d.Store.Pool.QueryRow(ctx, `SELECT uidvalidity, last_uid FROM email_sync WHERE channel = $1 AND mailbox = $2`,
		e.d.Key, mailbox).Scan(&uv, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return position{}, nil
	}
	if err != nil {
		return position{}, fmt.Errorf("reading the sync position: %w", err)
	}
	return position{known: true, uidValidity: uint32(uv), lastUID: uint32(last)}, nil
}

func (e *Engine) setPosition(ctx context.Context, mailbox string, p position) error {
	_, err := e.d.Store.Pool.Exec(ctx, `INSERT INTO email_sync (channel, mailbox, uidvalidity, last_uid) VALUES ($1, $2, $3, $4)
		ON CONFLICT (channel, mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid, updated_at = now()`,
		e.d.Key, mailbox, int64(p.uidValidity), int64(p.lastUID))
	if err != nil {
		return fmt.Errorf("moving the sync position: %w", err)
	}
	return nil
}

// thread finds the conversation an inbound mail continues: the one of a
// message it references, else a recent unresolved one of the same sender
// with the same normalised subject. newConv says there is none, and the
// mail opens a conversation even if the sender has another one open.
func (e *Engine) thread(ctx context.Context, m *Mail) (convID int64, newConv bool, err error) {
	refs := make([]string, 0, len(m.InReplyTo)+len(m.References))
	refs = append(refs, m.InReplyTo...)
	refs = append(refs, m.References...)
	if len(refs) > 0 {
		err := e.d.Store.Pool.QueryRow(ctx, `SELECT m.conversation_id FROM email_messages em JOIN messages m ON m.id = em.message_id
			WHERE em.channel = $1 AND em.header_id = ANY($2) AND em.header_id <> '' ORDER BY m.id DESC LIMIT 1`,
			e.d.Key, refs).Scan(&convID)
		if err == nil {
			return convID, false, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, false, fmt.Errorf("threading by references: %w", err)
		}
	}
	subject := NormalizeSubject(m.Subject)
	rows, err := e.d.Store.Pool.Query(ctx, `SELECT c.id, c.subject FROM conversations c
		JOIN contact_identities ci ON ci.contact_id = c.contact_id AND ci.channel = c.channel
		WHERE c.channel = $1 AND ci.identifier = $2 AND c.status <> 'resolved' AND c.last_message_at > $3
		ORDER BY c.last_message_at DESC, c.id DESC LIMIT 100`,
		e.d.Key, m.From, e.d.Clock().Add(-e.opts.SubjectWindow))
	if err != nil {
		return 0, false, fmt.Errorf("threading by subject: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var s string
		if err := rows.Scan(&id, &s); err != nil {
			return 0, false, err
		}
		if NormalizeSubject(s) == subject {
			return id, false, nil
		}
	}
	if err := rows.Err(); err != nil {
		return 0, false, fmt.Errorf("threading by subject: %w", err)
	}
	return 0, true, nil
}

// recordInbound keeps an inbound mail's threading headers. A mail stored
// before (a resync, a retry after a crash) keeps its row.
func (e *Engine) recordInbound(ctx context.Context, messageID int64, m *Mail) error {
	inReplyTo := ""
	if len(m.InReplyTo) > 0 {
		inReplyTo = m.InReplyTo[0]
	}
	refs := m.References
	if refs == nil {
		refs = []string{}
	}
	_, err := e.d.Store.Pool.Exec(ctx, `INSERT INTO email_messages (message_id, channel, header_id, in_reply_to, refs, subject, reply_address)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (message_id) DO NOTHING`,
		messageID, e.d.Key, m.MessageID, inReplyTo, refs, m.Subject, m.ReplyTo)
	if err != nil {
		return fmt.Errorf("recording the email's headers: %w", err)
	}
	return nil
}

// outboundHeaders are the headers of one reply, fixed at its first attempt.
type outboundHeaders struct {
	messageID, inReplyTo string
	refs                 []string
	subject, to          string
	date                 time.Time // set by compose
}

// replyHeaders returns the reply's headers, making them on the first
// attempt: a Message-ID of its own, and the threading of the
// conversation's last inbound mail. A retry gets the same ones.
func (e *Engine) replyHeaders(ctx context.Context, messageID, conversationID int64, identifier string) (*outboundHeaders, error) {
	h := &outboundHeaders{}
	err := e.d.Store.Pool.QueryRow(ctx, `SELECT header_id, in_reply_to, refs, subject, reply_address FROM email_messages WHERE message_id = $1`,
		messageID).Scan(&h.messageID, &h.inReplyTo, &h.refs, &h.subject, &h.to)
	if err == nil {
		return h, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("reading the reply's headers: %w", err)
	}
	var convSubject string
	if err := e.d.Store.Pool.QueryRow(ctx, `SELECT subject FROM conversations WHERE id = $1`, conversationID).Scan(&convSubject); err != nil {
		return nil, fmt.Errorf("reading the conversation: %w", err)
	}
	var last struct {
		id, subject, replyTo string
		refs                 []string
	}
	err = e.d.Store.Pool.QueryRow(ctx, `SELECT em.header_id, em.subject, em.reply_address, em.refs FROM email_messages em
		JOIN messages m ON m.id = em.message_id
		WHERE m.conversation_id = $1 AND m.direction = 'incoming' ORDER BY m.id DESC LIMIT 1`, conversationID).
		Scan(&last.id, &last.subject, &last.replyTo, &last.refs)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("reading the conversation's last email: %w", err)
	}
	subject := convSubject
	if last.subject != "" {
		subject = last.subject
	}
	h.subject = ReplySubject(subject)
	h.to = identifier
	if last.replyTo != "" {
		h.to = last.replyTo
	}
	h.refs = []string{}
	if last.id != "" {
		h.inReplyTo = last.id
		h.refs = append(append(h.refs, last.refs...), last.id)
		if len(h.refs) > maxRefs {
			// Keep the thread's root and the most recent (RFC 5322 3.6.4).
			h.refs = append(h.refs[:1], h.refs[len(h.refs)-maxRefs+1:]...)
		}
	}
	h.messageID = newMessageID(messageID, domainOf(e.opts.FromAddress))
	// A concurrent attempt may have made them first: theirs win.
	err = e.d.Store.Pool.QueryRow(ctx, `INSERT INTO email_messages (message_id, channel, header_id, in_reply_to, refs, subject, reply_address)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (message_id) DO UPDATE SET message_id = email_messages.message_id
		RETURNING header_id, in_reply_to, refs, subject, reply_address`,
		messageID, e.d.Key, h.messageID, h.inReplyTo, h.refs, h.subject, h.to).
		Scan(&h.messageID, &h.inReplyTo, &h.refs, &h.subject, &h.to)
	if err != nil {
		return nil, fmt.Errorf("recording the reply's headers: %w", err)
	}
	return h, nil
}
