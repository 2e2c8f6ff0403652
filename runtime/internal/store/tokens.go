package store

import (
	"context"
	"errors"
	"time"
)

// Token scopes: what an API token may do.
const (
	ReadWrite = "read-write" // everything its owner may do
	ReadOnly  = "read-only"  // GET and HEAD only
)

// ErrExpired is returned for an API token past its expiry.
var ErrExpired = errors.New("the API token has expired")

// APIToken is a personal token for the JSON API. Only its hash is stored.
type APIToken struct {
	ID         int64
	UserID     int64
	Name       string
	Prefix     string
	Scope      string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	ExpiresAt  *time.Time // nil: never
	Expired    bool       // as of the query, by the database's clock
}

const tokenCols = `id, user_id, name, prefix, scope, created_at, last_used_at, expires_at, coalesce(expires_at <= now(), false)`

func scanToken(row interface{ Scan(...any) error }) (*APIToken, error) {
	t := &APIToken{}
	err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.Prefix, &t.Scope, &t.CreatedAt, &t.LastUsedAt, &t.ExpiresAt, &t.Expired)
	return t, err
}

// CreateAPIToken stores a token's hash, with its scope and expiry (nil: never).
func (s *Store) CreateAPIToken(ctx context.Context, q Querier, userID int64, name, prefix string, hash []byte, scope string, expires *time.Time) (_ *APIToken, err error) {
	defer wrap(&err, "CreateAPIToken(%d)", userID)
	return scanToken(q.QueryRow(ctx, `INSERT INTO api_tokens (user_id, name, prefix, token_hash, scope, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+tokenCols, userID, name, prefix, hash, scope, expires))
}

// lastUsedResolution is how stale a token's last_used_at may be: a token
// used many times a second would otherwise make every request wait for
// the others' update of its one row.
const lastUsedResolution = "1 minute"

// UserByAPIToken returns the enabled user owning a live token, with the
// token as it was, and marks it used: an api_call in usage_events, and
// last_used_at (at most lastUsedResolution stale), in one statement. A
// token past its expiry gives ErrExpired; an unknown or revoked one, or one
// of a disabled user, ErrNotFound.
func (s *Store) UserByAPIToken(ctx context.Context, hash []byte) (_ *User, _ *APIToken, err error) {
	defer wrap(&err, "UserByAPIToken")
	t, u := &APIToken{}, &User{}
	err = s.Pool.QueryRow(ctx, `WITH t AS (
			SELECT id, user_id, name, prefix, scope, created_at, last_used_at, expires_at, coalesce(expires_at <= now(), false) AS expired
			FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL
		), ok AS (
			SELECT t.id, t.user_id FROM t JOIN users u ON u.id = t.user_id AND u.disabled_at IS NULL WHERE NOT t.expired
		), touched AS (
			UPDATE api_tokens SET last_used_at = now() FROM ok
			WHERE api_tokens.id = ok.id AND (api_tokens.last_used_at IS NULL OR api_tokens.last_used_at < now() - $3::interval)
		), used AS (
			INSERT INTO usage_events (kind, user_id, api_token_id) SELECT $2, user_id, id FROM ok
		)
		SELECT t.id, t.user_id, t.name, t.prefix, t.scope, t.created_at, t.last_used_at, t.expires_at, t.expired,
			u.id, u.email, u.name, u.role, u.password_hash, u.must_change_password, u.disabled_at IS NOT NULL, u.created_at
		FROM t JOIN users u ON u.id = t.user_id`, hash, UsageAPICall, lastUsedResolution).Scan(
		&t.ID, &t.UserID, &t.Name, &t.Prefix, &t.Scope, &t.CreatedAt, &t.LastUsedAt, &t.ExpiresAt, &t.Expired,
		&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.MustChangePassword, &u.Disabled, &u.CreatedAt)
	switch {
	case err != nil:
		return nil, nil, notFound(err)
	case t.Expired:
		return nil, nil, ErrExpired
	case u.Disabled:
		return nil, nil, ErrNotFound
	}
	return u, t, nil
}

// APITokens lists a user's tokens that are not revoked, expired ones included.
func (s *Store) APITokens(ctx context.Context, userID int64) (_ []*APIToken, err error) {
	defer wrap(&err, "APITokens(%d)", userID)
	rows, err := s.Pool.Query(ctx, `SELECT `+tokenCols+` FROM api_tokens
		WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeAPIToken revokes one of a user's tokens.
func (s *Store) RevokeAPIToken(ctx context.Context, q Querier, userID, id int64) (err error) {
	defer wrap(&err, "RevokeAPIToken(%d, %d)", userID, id)
	tag, err := q.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, id, userID)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}
