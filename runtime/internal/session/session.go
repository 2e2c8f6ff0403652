// Package session is the service for signed-in browsers: sessions kept
// server-side under the hash of their token, and the failed sign-ins that
// rate limits count.
package session

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Service is the workspace's sessions.
type Service struct {
	store *store.Store
}

// New returns the service over st.
func New(st *store.Store) *Service { return &Service{store: st} }

// SignIn starts a session for userID until expires, with the audit entry and
// the usage event of the sign-in, and returns the session's token.
func (s *Service) SignIn(ctx context.Context, userID int64, expires time.Time) (token string, err error) {
	err = s.store.Audited(ctx, &userID, "session.created", "user", func(tx pgx.Tx) (int64, error) {
		if token, err = s.create(ctx, tx, userID, expires); err != nil {
			return 0, err
		}
		return userID, s.store.RecordUsage(ctx, tx, store.UsageEvent{Kind: store.UsageSignIn, UserID: &userID})
	})
	return token, err
}

// Start starts a session for userID until expires, and returns its token:
// for a member whose sessions have just ended (a password change) or who
// has just joined.
func (s *Service) Start(ctx context.Context, userID int64, expires time.Time) (token string, err error) {
	return s.create(ctx, s.store.Pool, userID, expires)
}

func (s *Service) create(ctx context.Context, q store.Querier, userID int64, expires time.Time) (string, error) {
	token, hash := auth.NewToken("")
	csrf, _ := auth.NewToken("")
	return token, s.store.CreateSession(ctx, q, hash, userID, csrf, expires)
}

// Authenticate returns the live session under tokenHash and its enabled
// member, and marks it seen; store.ErrNotFound when there is none.
func (s *Service) Authenticate(ctx context.Context, tokenHash []byte) (*store.User, *store.Session, error) {
	se, err := s.store.SessionByHash(ctx, tokenHash)
	if err != nil {
		return nil, nil, err
	}
	u, err := s.store.UserByID(ctx, se.UserID)
	if err != nil {
		return nil, nil, err
	}
	return u, se, nil
}

// SetNotice keeps a sealed notice for the session's next page.
func (s *Service) SetNotice(ctx context.Context, tokenHash, sealed []byte) error {
	return s.store.SetNotice(ctx, tokenHash, sealed)
}

// TakeNotice returns the session's sealed notice, if any, and clears it.
func (s *Service) TakeNotice(ctx context.Context, tokenHash []byte) ([]byte, error) {
	return s.store.TakeNotice(ctx, tokenHash)
}

// End ends the session under tokenHash.
func (s *Service) End(ctx context.Context, tokenHash []byte) error {
	return s.store.DeleteSession(ctx, tokenHash)
}

// Limiter allows max failures per window under scope, counted in the
// workspace database so that every replica enforces one limit: sign-ins,
// and current passwords given to change one.
func (s *Service) Limiter(scope string, max int, window time.Duration) *auth.Limiter {
	return auth.NewLimiter(s.store, scope, max, window)
}
