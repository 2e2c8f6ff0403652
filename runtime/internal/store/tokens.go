package store

import (
	"context"
	"time"
)

// APIToken is a personal token for the JSON API. Only its hash is stored.
type APIToken struct {
	ID         int64
	UserID     int64
	Name       string
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// CreateAPIToken stores a token's hash.
func (s *Store) CreateAPIToken(ctx context.Context, userID int64, name, prefix string, hash []byte) (*APIToken, error) {
	t := &APIToken{}
	err := s.Pool.QueryRow(ctx, `INSERT INTO api_tokens (user_id, name, prefix, token_hash) VALUES ($1, $2, $3, $4)
		RETURNING id, user_id, name, prefix, created_at`, userID, name, prefix, hash).Scan(&t.ID, &t.UserID, &t.Name, &t.Prefix, &t.CreatedAt)
	return t, err
}

// UserByAPIToken returns the enabled user owning a live token, and marks it used.
func (s *Store) UserByAPIToken(ctx context.Context, hash []byte) (*User, error) {
	return scanUser(s.Pool.QueryRow(ctx, `WITH t AS (
			UPDATE api_tokens SET last_used_at = now() WHERE token_hash = $1 AND revoked_at IS NULL RETURNING user_id)
		SELECT `+userCols+` FROM users WHERE id = (SELECT user_id FROM t) AND disabled_at IS NULL`, hash))
}

// APITokens lists a user's live tokens.
func (s *Store) APITokens(ctx context.Context, userID int64) ([]*APIToken, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, user_id, name, prefix, created_at, last_used_at FROM api_tokens
		WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*APIToken
	for rows.Next() {
		t := &APIToken{}
		if err := rows.Scan(&t.ID, &t.UserID, &t.Name, &t.Prefix, &t.CreatedAt, &t.LastUsedAt); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeAPIToken revokes one of a user's tokens.
func (s *Store) RevokeAPIToken(ctx context.Context, userID, id int64) error {
	tag, err := s.Pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, id, userID)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}
