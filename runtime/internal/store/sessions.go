package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Session is a signed-in browser.
type Session struct {
	UserID    int64
	CSRFToken string
	ExpiresAt time.Time
	HasNotice bool // a notice waits to be shown (TakeNotice)
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
		RETURNING sessions.user_id, sessions.csrf_token, sessions.expires_at, sessions.notice IS NOT NULL`,
		tokenHash).Scan(&se.UserID, &se.CSRFToken, &se.ExpiresAt, &se.HasNotice)
	return se, notFound(err)
}

// SetNotice keeps a sealed notice for the session's next page, replacing
// any still unshown.
func (s *Store) SetNotice(ctx context.Context, tokenHash, sealed []byte) (err error) {
	defer wrap(&err, "SetNotice")
	_, err = s.Pool.Exec(ctx, `UPDATE sessions SET notice = $2 WHERE token_hash = $1`, tokenHash, sealed)
	return err
}

// TakeNotice returns the session's sealed notice and clears it, so that it
// is shown once; nil when there is none.
func (s *Store) TakeNotice(ctx context.Context, tokenHash []byte) (sealed []byte, err error) {
	defer wrap(&err, "TakeNotice")
	err = s.Pool.QueryRow(ctx, `UPDATE sessions SET notice = NULL FROM (
			SELECT token_hash, notice FROM sessions WHERE token_hash = $1 AND notice IS NOT NULL FOR UPDATE
		) old WHERE sessions.token_hash = old.token_hash RETURNING old.notice`, tokenHash).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return sealed, err
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
