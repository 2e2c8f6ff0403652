// Package invite is the service for invitations to join the workspace: a
// link that works once, until it expires. Every change is written together
// with its audit log entry, in one transaction.
package invite

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Service is the workspace's invitations.
type Service struct {
	store *store.Store
}

// New returns the service over st.
func New(st *store.Store) *Service { return &Service{store: st} }

// Create invites email to join with role until expires. It returns the
// invite and its token, which only the link holds: the database keeps its
// hash.
func (s *Service) Create(ctx context.Context, actor int64, email string, role auth.Role, expires time.Time) (inv *store.Invite, token string, err error) {
	token, hash := auth.NewToken("")
	err = s.store.Audited(ctx, &actor, "invite.created", "invite", func(tx pgx.Tx) (int64, error) {
		if inv, err = s.store.CreateInvite(ctx, tx, email, string(role), hash, actor, expires); err != nil {
			return 0, err
		}
		return inv.ID, nil
	})
	return inv, token, err
}

// ByToken returns the open invite of a link's token; one that is used or
// expired is store.ErrNotFound.
func (s *Service) ByToken(ctx context.Context, token string) (*store.Invite, error) {
	return s.store.InviteByHash(ctx, auth.HashToken(token))
}

// Accept makes the invited member, with their name and password hash, and
// uses the invite up.
func (s *Service) Accept(ctx context.Context, token, name, passwordHash string) (u *store.User, err error) {
	err = s.store.Transact(ctx, func(tx pgx.Tx) error {
		var inviteID int64
		if u, inviteID, err = s.store.AcceptInvite(ctx, tx, auth.HashToken(token), name, passwordHash); err != nil {
			return err
		}
		return s.store.Audit(ctx, tx, &u.ID, "user", "invite.accepted", "invite", inviteID)
	})
	return u, err
}

// Pending lists the invites not yet accepted or expired.
func (s *Service) Pending(ctx context.Context) ([]*store.Invite, error) {
	return s.store.PendingInvites(ctx)
}
