package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// LastIncomingAt is when the conversation's contact last wrote; zero if never.
func (s *Store) LastIncomingAt(ctx context.Context, q Querier, conversationID int64) (_ time.Time, err error) {
	defer wrap(&err, "LastIncomingAt(%d)", conversationID)
	var at *time.Time
	err = q.QueryRow(ctx, `SELECT max(created_at) FROM messages WHERE conversation_id = $1 AND direction = 'incoming'`,
		conversationID).Scan(&at)
	if err != nil || at == nil {
		return time.Time{}, err
	}
	return *at, nil
}

// SetProviderID records the provider's id for an outgoing message, so that
// its status reports find it. A message that has one keeps it.
func (s *Store) SetProviderID(ctx context.Context, messageID int64, providerID string) (err error) {
	defer wrap(&err, "SetProviderID(%d)", messageID)
	_, err = s.Pool.Exec(ctx, `UPDATE messages SET external_id = $2 WHERE id = $1 AND direction = 'outgoing' AND external_id IS NULL`,
		messageID, providerID)
	return err
}

// AdoptProviderID gives providerID to messageID, an outgoing message on
// channel that has none: a send whose answer was lost, named again by a
// provider's status report through the data the send carried (WhatsApp's
// biz_opaque_callback_data). ok is false when the message is not such a
// message.
func (s *Store) AdoptProviderID(ctx context.Context, channel string, messageID int64, providerID string) (ok bool, err error) {
	defer wrap(&err, "AdoptProviderID(%d)", messageID)
	tag, err := s.Pool.Exec(ctx, `UPDATE messages SET external_id = $3
		WHERE id = $2 AND channel = $1 AND direction = 'outgoing' AND external_id IS NULL`, channel, messageID, providerID)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// AdvanceDelivery applies a provider's status report to the outgoing
// message it has the id of, if forward(current, status) allows it, and
// records it as a delivery event. It locks the message, so concurrent
// reports apply in some order and never move it backwards.
func (s *Store) AdvanceDelivery(ctx context.Context, channel, providerID, status, detail string,
	forward func(have, next string) bool) (conversationID, messageID int64, ok bool, err error) {
	defer wrap(&err, "AdvanceDelivery(%q, %q)", channel, status)
	err = s.Transact(ctx, func(tx pgx.Tx) error {
		var have *string
		err := tx.QueryRow(ctx, `SELECT id, conversation_id, delivery_status FROM messages
			WHERE channel = $1 AND external_id = $2 AND direction = 'outgoing' FOR UPDATE`, channel, providerID).
			Scan(&messageID, &conversationID, &have)
		if err != nil {
			return notFound(err)
		}
		cur := ""
		if have != nil {
			cur = *have
		}
		if !forward(cur, status) {
			return nil
		}
		ok = true
		if _, err := tx.Exec(ctx, `UPDATE messages SET delivery_status = $2 WHERE id = $1`, messageID, status); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO delivery_events (message_id, status, detail) VALUES ($1, $2, $3)`, messageID, status, detail)
		return err
	})
	return conversationID, messageID, ok, err
}

// ErrNotFailed: only a failed or unconfirmed reply can be retried.
var ErrNotFailed = errors.New("the message has not failed")

// RequeueFailed queues a failed (or unconfirmed) outgoing message again: its outbox entry
// is reopened with its attempts reset, and the message is queued again,
// with a delivery event and an audit entry in the same transaction.
func (s *Store) RequeueFailed(ctx context.Context, actor *int64, messageID int64) (conversationID int64, err error) {
	defer wrap(&err, "RequeueFailed(%d)", messageID)
	err = s.Audited(ctx, actor, "message.retried", "message", func(tx pgx.Tx) (int64, error) {
		var status *string
		if err := tx.QueryRow(ctx, `SELECT conversation_id, delivery_status FROM messages WHERE id = $1 AND direction = 'outgoing' FOR UPDATE`,
			messageID).Scan(&conversationID, &status); err != nil {
			return 0, notFound(err)
		}
		if status == nil || (*status != "failed" && *status != "unconfirmed") {
			return 0, ErrNotFailed
		}
		tag, err := tx.Exec(ctx, `UPDATE outbox SET delivered_at = NULL, attempts = 0, next_attempt_at = now(), last_error = '', in_flight = false
			WHERE message_id = $1 AND kind = 'deliver'`, messageID)
		if err != nil {
			return 0, err
		}
		if tag.RowsAffected() == 0 {
			return 0, ErrNotFound
		}
		if _, err := tx.Exec(ctx, `UPDATE messages SET delivery_status = 'queued' WHERE id = $1`, messageID); err != nil {
			return 0, err
		}
		_, err = tx.Exec(ctx, `INSERT INTO delivery_events (message_id, status, detail) VALUES ($1, 'queued', 'retried by an agent')`, messageID)
		return messageID, err
	})
	return conversationID, err
}
