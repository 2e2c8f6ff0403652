// Package user is the service for the workspace's members: who they are,
// their roles, and their passwords. Every change is written together with
// its audit log entry, in one transaction.
package user

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Service is the team's members.
type Service struct {
	store *store.Store
}

// New returns the service over st.
func New(st *store.Store) *Service { return &Service{store: st} }

// List lists the members, owners first.
func (s *Service) List(ctx context.Context) ([]*store.User, error) {
	return s.store.Users(ctx)
}

// ByID returns a member.
func (s *Service) ByID(ctx context.Context, id int64) (*store.User, error) {
	return s.store.UserByID(ctx, id)
}

// ByEmail returns the member with that email.
func (s *Service) ByEmail(ctx context.Context, email string) (*store.User, error) {
	return s.store.UserByEmail(ctx, email)
}

// SetRole gives member id a role.
func (s *Service) SetRole(ctx context.Context, actor, id int64, role auth.Role) error {
	return s.store.Audited(ctx, &actor, "user.role_changed", "user", func(tx pgx.Tx) (int64, error) {
		return id, s.store.SetRole(ctx, tx, id, string(role))
	})
}

// SetDisabled disables member id, which ends their sessions, or enables
// them again.
func (s *Service) SetDisabled(ctx context.Context, actor, id int64, disabled bool) error {
	action := "user.enabled"
	if disabled {
		action = "user.disabled"
	}
	return s.store.Audited(ctx, &actor, action, "user", func(tx pgx.Tx) (int64, error) {
		return id, s.store.SetDisabled(ctx, tx, id, disabled)
	})
}

// ChangePassword gives member id a new password hash and ends all their
// sessions; with revokeTokens it revokes all their API tokens too, and says
// how many. The change and its audit entries are one transaction.
func (s *Service) ChangePassword(ctx context.Context, id int64, hash string, revokeTokens bool) (revoked int64, err error) {
	err = s.store.Transact(ctx, func(tx pgx.Tx) error {
		if revoked, err = s.store.ChangePassword(ctx, tx, id, hash, revokeTokens); err != nil {
			return err
		}
		if err := s.store.Audit(ctx, tx, &id, "user", "password.changed", "user", id); err != nil || !revokeTokens {
			return err
		}
		return s.store.Audit(ctx, tx, &id, "user", "api_tokens.revoked", "user", id)
	})
	return revoked, err
}

// SetProfile changes member id's name and time zone ("" for their
// browser's); the member is the actor: members edit only their own profile.
func (s *Service) SetProfile(ctx context.Context, id int64, name, timeZone string) error {
	return s.store.Audited(ctx, &id, "user.profile_changed", "user", func(tx pgx.Tx) (int64, error) {
		return id, s.store.SetProfile(ctx, tx, id, name, timeZone)
	})
}
