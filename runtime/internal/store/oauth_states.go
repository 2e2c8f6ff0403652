package store

import (
	"context"
	"time"
)

// OAuthState is one OAuth connection a member started (oauth_states).
type OAuthState struct {
	ID          int64
	UserID      int64
	Integration string
	// CodeVerifier is the PKCE verifier; "" once the state was taken.
	CodeVerifier string
	RedirectURI  string
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// CreateOAuthState stores a connection's state (by its hash) and PKCE
// verifier, bound to the member and the session that started it, and
// removes the states that lapsed unused.
func (s *Store) CreateOAuthState(ctx context.Context, stateHash, sessionHash []byte, userID int64, integration, verifier, redirectURI string, expires time.Time) (_ int64, err error) {
	defer wrap(&err, "CreateOAuthState(%d)", userID)
	if _, err := s.Pool.Exec(ctx, `DELETE FROM oauth_states WHERE used_at IS NULL AND expires_at <= now()`); err != nil {
		return 0, err
	}
	var id int64
	err = s.Pool.QueryRow(ctx, `INSERT INTO oauth_states (state_hash, session_hash, user_id, integration, code_verifier, redirect_uri, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, stateHash, sessionHash, userID, integration, verifier, redirectURI, expires).Scan(&id)
	return id, err
}

// TakeOAuthState takes a state once: only for the session and member that
// created it, before it lapses. It marks it used and clears its verifier in
// the same statement, and returns it with the verifier. Anything else (an
// unknown, used, lapsed or another session's state) is ErrNotFound, and
// leaves the state as it was.
func (s *Store) TakeOAuthState(ctx context.Context, stateHash, sessionHash []byte, userID int64) (_ *OAuthState, err error) {
	defer wrap(&err, "TakeOAuthState(%d)", userID)
	st := &OAuthState{}
	err = s.Pool.QueryRow(ctx, `UPDATE oauth_states o SET used_at = now(), code_verifier = ''
		FROM (SELECT id, code_verifier FROM oauth_states WHERE state_hash = $1 FOR UPDATE) old
		WHERE o.id = old.id AND o.used_at IS NULL AND o.expires_at > now() AND o.session_hash = $2 AND o.user_id = $3
		RETURNING o.id, o.user_id, o.integration, old.code_verifier, o.redirect_uri, o.created_at, o.expires_at`,
		stateHash, sessionHash, userID).Scan(&st.ID, &st.UserID, &st.Integration, &st.CodeVerifier, &st.RedirectURI, &st.CreatedAt, &st.ExpiresAt)
	return st, notFound(err)
}
