package store

import (
	"context"
	"encoding/json"
	"time"
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
	Attempts  int
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

// ClaimDue takes up to n due deliveries, hiding them from other workers for lease.
func (s *Store) ClaimDue(ctx context.Context, n int, lease time.Duration) (_ []*OutboxItem, err error) {
	defer wrap(&err, "ClaimDue")
	rows, err := s.Pool.Query(ctx, `UPDATE outbox SET next_attempt_at = now() + $2::interval, attempts = attempts + 1
		WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= now()
			ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING id, kind, message_id, payload, attempts`, n, lease.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*OutboxItem
	for rows.Next() {
		it := &OutboxItem{}
		if err := rows.Scan(&it.ID, &it.Kind, &it.MessageID, &it.Payload, &it.Attempts); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// Delivered marks a delivery done.
func (s *Store) Delivered(ctx context.Context, id int64) (err error) {
	defer wrap(&err, "Delivered(%d)", id)
	_, err = s.Pool.Exec(ctx, `UPDATE outbox SET delivered_at = now(), last_error = '' WHERE id = $1`, id)
	return err
}

// Retry schedules another attempt after backoff or, with giveUp, closes the
// delivery as failed.
func (s *Store) Retry(ctx context.Context, id int64, backoff time.Duration, lastErr string, giveUp bool) (err error) {
	defer wrap(&err, "Retry(%d)", id)
	if giveUp {
		_, err := s.Pool.Exec(ctx, `UPDATE outbox SET delivered_at = now(), last_error = $2 WHERE id = $1`, id, "gave up: "+lastErr)
		return err
	}
	_, err = s.Pool.Exec(ctx, `UPDATE outbox SET next_attempt_at = now() + $2::interval, last_error = $3 WHERE id = $1`, id, backoff.String(), lastErr)
	return err
}

// APIWebhookSet says whether the API channel has a webhook URL, without
// creating its settings row.
func (s *Store) APIWebhookSet(ctx context.Context) (set bool, err error) {
	defer wrap(&err, "APIWebhookSet")
	err = s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_channel WHERE webhook_url <> '')`).Scan(&set)
	return set, err
}
