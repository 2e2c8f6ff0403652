package canned

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// ByID returns a canned reply.
func (s *Service) ByID(ctx context.Context, id int64) (*store.CannedReply, error) {
	return s.store.CannedReplyByID(ctx, id)
}

// Update changes a canned reply; errors as Create's, and store.ErrNotFound.
func (s *Service) Update(ctx context.Context, actor int64, c *store.CannedReply) error {
	return s.store.Audited(ctx, &actor, "canned_reply.updated", "canned_reply", func(tx pgx.Tx) (int64, error) {
		return c.ID, s.store.UpdateCannedReply(ctx, tx, c)
	})
}
