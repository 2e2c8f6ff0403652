package invite

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Reissue gives a pending invite a new link, valid until expires, and
// returns its token; the old link stops working. The database keeps only
// the token's hash, so a lost link cannot be shown again, only replaced.
func (s *Service) Reissue(ctx context.Context, actor, id int64, expires time.Time) (inv *store.Invite, token string, err error) {
	token, hash := auth.NewToken("")
	err = s.store.Audited(ctx, &actor, "invite.reissued", "invite", func(tx pgx.Tx) (int64, error) {
		inv, err = s.store.ReissueInvite(ctx, tx, id, hash, expires)
		return id, err
	})
	return inv, token, err
}

// Revoke withdraws a pending invite: its link stops working.
func (s *Service) Revoke(ctx context.Context, actor, id int64) error {
	return s.store.Audited(ctx, &actor, "invite.revoked", "invite", func(tx pgx.Tx) (int64, error) {
		return id, s.store.RevokeInvite(ctx, tx, id)
	})
}
