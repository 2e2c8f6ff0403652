// Package token is the service for members' personal API tokens. Only a
// token's hash is kept; the token itself is shown once, when made. Every
// change is written together with its audit log entry, in one transaction.
package token

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Prefix starts every API token, so that a leaked one is recognisable.
const Prefix = "sbt_"

// Service is the members' API tokens.
type Service struct {
	store *store.Store
}

// New returns the service over st.
func New(st *store.Store) *Service { return &Service{store: st} }

// List lists a member's tokens that are not revoked, expired ones included.
func (s *Service) List(ctx context.Context, userID int64) ([]*store.APIToken, error) {
	return s.store.APITokens(ctx, userID)
}

// Create makes a token for userID with a scope and an expiry (nil: never),
// and returns it with the token itself.
func (s *Service) Create(ctx context.Context, userID int64, name, scope string, expires *time.Time) (t *store.APIToken, token string, err error) {
	token, hash := auth.NewToken(Prefix)
	err = s.store.Audited(ctx, &userID, "api_token.created", "api_token", func(tx pgx.Tx) (int64, error) {
		if t, err = s.store.CreateAPIToken(ctx, tx, userID, name, token[:8], hash, scope, expires); err != nil {
			return 0, err
		}
		return t.ID, nil
	})
	return t, token, err
}

// Revoke revokes one of userID's tokens.
func (s *Service) Revoke(ctx context.Context, userID, id int64) error {
	return s.store.Audited(ctx, &userID, "api_token.revoked", "api_token", func(tx pgx.Tx) (int64, error) {
		return id, s.store.RevokeAPIToken(ctx, tx, userID, id)
	})
}

// Authenticate returns the enabled member owning a live token, with the
// token, and marks it used; see store.UserByAPIToken for the errors.
func (s *Service) Authenticate(ctx context.Context, token string) (*store.User, *store.APIToken, error) {
	return s.store.UserByAPIToken(ctx, auth.HashToken(token))
}
