package store

import (
	"context"
	"time"
)

// Session is a signed-in browser.
type Session struct {
	UserID    int64
	CSRFToken string
	ExpiresAt time.Time
}

// CreateSession stores a session under the hash of its token.
func (s *Store) CreateSession(ctx context.Context, q Querier, tokenHash []byte, userID int64, csrf string, expires time.Time) (err error) {
	defer wrap(&err, "CreateSession(%d)", userID)
	_, err = q.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)`,
		tokenHash, userID, csrf, expires)
	return err
}

// SessionByHash returns a live session of an enabled user, and marks it seen.
func (s *Store) SessionByHash(ctx context.Context, tokenHash []byte) (_ *Session, err error) {
	defer wrap(&err, "SessionByHash")
	se := &Session{}
	err = s.Pool.QueryRow(ctx, `UPDATE sessions SET last_seen_at = now()
		FROM users WHERE sessions.token_hash = $1 AND sessions.expires_at > now()
		AND users.id = sessions.user_id AND users.disabled_at IS NULL
		RETURNING sessions.user_id, sessions.csrf_token, sessions.expires_at`, tokenHash).Scan(&se.UserID, &se.CSRFToken, &se.ExpiresAt)
	return se, notFound(err)
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) (err error) {
	defer wrap(&err, "DeleteSession")
	_, err = s.Pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash)
	return err
}

// DeleteExpiredSessions removes expired sessions and says how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context) (_ int64, err error) {
	defer wrap(&err, "DeleteExpiredSessions")
	tag, err := s.Pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= now()`)
	return tag.RowsAffected(), err
}
