package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// APIChannel is the built-in channel's outbound webhook.
type APIChannel struct {
	WebhookURL    string
	WebhookSecret string
}

// APIChannelSettings returns the API channel's settings, creating a secret on first use.
func (s *Store) APIChannelSettings(ctx context.Context, q Querier, newSecret func() string) (_ *APIChannel, err error) {
	defer wrap(&err, "APIChannelSettings")
	c := &APIChannel{}
	err = q.QueryRow(ctx, `INSERT INTO api_channel (id, webhook_secret) VALUES (1, $1)
		ON CONFLICT (id) DO UPDATE SET id = 1 RETURNING webhook_url, webhook_secret`, newSecret()).Scan(&c.WebhookURL, &c.WebhookSecret)
	return c, err
}

// SetAPIChannelWebhook sets where agent replies are delivered.
func (s *Store) SetAPIChannelWebhook(ctx context.Context, q Querier, url string, newSecret func() string) (err error) {
	defer wrap(&err, "SetAPIChannelWebhook")
	_, err = q.Exec(ctx, `INSERT INTO api_channel (id, webhook_url, webhook_secret) VALUES (1, $1, $2)
		ON CONFLICT (id) DO UPDATE SET webhook_url = $1`, url, newSecret())
	return err
}

// OutboxItem is a delivery to make.
type OutboxItem struct {
	ID        int64
	Kind      string
	MessageID *int64
	Payload   json.RawMessage
	// Attempts counts the claims, this one included. It is also the claim's
	// fencing token: BeginAttempt succeeds only for the latest claim.
	Attempts int
	// Interrupted says an earlier attempt began (BeginAttempt) and never
	// recorded an outcome: its replica died, or its database write failed,
	// after the provider may have been called.
	Interrupted bool
}

// Enqueue adds a delivery.
func (s *Store) Enqueue(ctx context.Context, q Querier, kind string, messageID *int64, payload any) (err error) {
	defer wrap(&err, "Enqueue(%q)", kind)
	if q == nil {
		q = s.Pool
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO outbox (kind, message_id, payload) VALUES ($1, $2, $3)`, kind, messageID, b)
	return err
}

// ClaimDue takes up to n due deliveries, hiding them from other workers for
// lease. An item whose earlier attempt was interrupted comes back with
// Interrupted set; it stays in flight until an outcome is recorded, so a
// claimer that dies before deciding leaves the next one the same answer.
func (s *Store) ClaimDue(ctx context.Context, n int, lease time.Duration) (_ []*OutboxItem, err error) {
	defer wrap(&err, "ClaimDue")
	rows, err := s.Pool.Query(ctx, `UPDATE outbox SET next_attempt_at = now() + $2::interval, attempts = attempts + 1
		WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= now()
			ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING id, kind, message_id, payload, attempts, in_flight`, n, lease.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*OutboxItem
	for rows.Next() {
		it := &OutboxItem{}
		if err := rows.Scan(&it.ID, &it.Kind, &it.MessageID, &it.Payload, &it.Attempts, &it.Interrupted); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// BeginAttempt marks it as in flight just before the provider is called,
// and renews its lease for lease (which must outlast the call). ok is false
// when the item was claimed again since (its lease ran out while it waited
// in this claimer's batch): the attempt must not be made.
func (s *Store) BeginAttempt(ctx context.Context, it *OutboxItem, lease time.Duration) (ok bool, err error) {
	defer wrap(&err, "BeginAttempt(%d)", it.ID)
	tag, err := s.Pool.Exec(ctx, `UPDATE outbox SET in_flight = true, next_attempt_at = now() + $3::interval
		WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL`, it.ID, it.Attempts, lease.String())
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// Retry schedules another attempt after backoff or, with giveUp, closes the
// delivery as failed.
func (s *Store) Retry(ctx context.Context, id int64, backoff time.Duration, lastErr string, giveUp bool) (err error) {
	defer wrap(&err, "Retry(%d)", id)
	if giveUp {
		_, err := s.Pool.Exec(ctx, `UPDATE outbox SET delivered_at = now(), last_error = $2, in_flight = false WHERE id = $1`, id, "gave up: "+lastErr)
		return err
	}
	_, err = s.Pool.Exec(ctx, `UPDATE outbox SET next_attempt_at = now() + $2::interval, last_error = $3, in_flight = false WHERE id = $1`, id, backoff.String(), lastErr)
	return err
}

// FinishDelivery closes delivery it with its outcome and records status
// (sent, failed or unconfirmed) and detail on its message, with a delivery
// event, in one transaction: a crash leaves both undone (the item still in
// flight) or both done. A message a provider's report already moved on
// from queued keeps that status.
func (s *Store) FinishDelivery(ctx context.Context, it *OutboxItem, messageID int64, status, detail string) (conversationID int64, err error) {
	defer wrap(&err, "FinishDelivery(%d, %q)", it.ID, status)
	lastErr := ""
	if status != "sent" {
		lastErr = "gave up: " + detail
	}
	err = s.Transact(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE outbox SET delivered_at = now(), last_error = $2, in_flight = false WHERE id = $1`, it.ID, lastErr); err != nil {
			return err
		}
		var have *string
		if err := tx.QueryRow(ctx, `SELECT conversation_id, delivery_status FROM messages WHERE id = $1 AND direction = 'outgoing' FOR UPDATE`,
			messageID).Scan(&conversationID, &have); err != nil {
			return notFound(err)
		}
		if have != nil && *have != "queued" {
			// A provider's report came first (it names the message by the
			// data the send carried): it knows better than the attempt.
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE messages SET delivery_status = $2 WHERE id = $1`, messageID, status); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO delivery_events (message_id, status, detail) VALUES ($1, $2, $3)`, messageID, status, detail)
		return err
	})
	return conversationID, err
}

// APIWebhookSet says whether the API channel has a webhook URL, without
// creating its settings row.
func (s *Store) APIWebhookSet(ctx context.Context) (set bool, err error) {
	defer wrap(&err, "APIWebhookSet")
	err = s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_channel WHERE webhook_url <> '')`).Scan(&set)
	return set, err
}
