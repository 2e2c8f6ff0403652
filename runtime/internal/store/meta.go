package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// DeliveryMove is an outgoing message a receipt moved forward.
type DeliveryMove struct {
	ConversationID int64
	MessageID      int64
}

// AdvanceDeliveryUpTo applies a watermark receipt (Messenger's delivery and
// read: "everything sent before this moment"). Every outgoing message on
// channel to the contact the channel knows as identifier, that has a
// provider id (it left) and was created at or before upTo, moves to status
// where forward(current, status) allows it, with a delivery event each.
// It locks the messages, so concurrent receipts never move one backwards.
func (s *Store) AdvanceDeliveryUpTo(ctx context.Context, channel, identifier string, upTo time.Time, status, detail string,
	forward func(have, next string) bool) (moved []DeliveryMove, err error) {
	defer wrap(&err, "AdvanceDeliveryUpTo(%q, %q)", channel, status)
	err = s.Transact(ctx, func(tx pgx.Tx) error {
		moved = moved[:0]
		rows, err := tx.Query(ctx, `SELECT m.id, m.conversation_id, m.delivery_status FROM messages m
			JOIN conversations c ON c.id = m.conversation_id
			JOIN contact_identities ci ON ci.contact_id = c.contact_id AND ci.channel = $1 AND ci.identifier = $2
			WHERE m.channel = $1 AND m.direction = 'outgoing' AND m.external_id IS NOT NULL AND m.created_at <= $3
				AND m.delivery_status IS DISTINCT FROM $4 AND m.delivery_status IS DISTINCT FROM 'read'
			ORDER BY m.id FOR UPDATE OF m`, channel, identifier, upTo, status)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var mv DeliveryMove
			var have *string
			if err := rows.Scan(&mv.MessageID, &mv.ConversationID, &have); err != nil {
				rows.Close()
				return err
			}
			cur := ""
			if have != nil {
				cur = *have
			}
			if forward(cur, status) {
				moved = append(moved, mv)
				ids = append(ids, mv.MessageID)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE messages SET delivery_status = $2 WHERE id = ANY($1)`, ids, status); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO delivery_events (message_id, status, detail) SELECT unnest($1::bigint[]), $2, $3`,
			ids, status, detail)
		return err
	})
	return moved, err
}
