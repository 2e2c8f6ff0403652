// Package canned is the service for canned replies, the saved answers
// agents insert with /shortcut. Every change is written together with its
// audit log entry, in one transaction.
package canned

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Service is the workspace's canned replies.
type Service struct {
	store *store.Store
}

// New returns the service over st.
func New(st *store.Store) *Service { return &Service{store: st} }

// List lists the canned replies whose shortcut starts with prefix.
func (s *Service) List(ctx context.Context, prefix string) ([]*store.CannedReply, error) {
	return s.store.CannedReplies(ctx, prefix)
}

// Create adds a canned reply; see store.CreateCannedReply.
func (s *Service) Create(ctx context.Context, actor int64, c *store.CannedReply) (out *store.CannedReply, err error) {
	err = s.store.Audited(ctx, &actor, "canned_reply.created", "canned_reply", func(tx pgx.Tx) (int64, error) {
		if out, err = s.store.CreateCannedReply(ctx, tx, actor, c); err != nil {
			return 0, err
		}
		return out.ID, nil
	})
	return out, err
}

// Delete removes a canned reply.
func (s *Service) Delete(ctx context.Context, actor, id int64) error {
	return s.store.Audited(ctx, &actor, "canned_reply.deleted", "canned_reply", func(tx pgx.Tx) (int64, error) {
		return id, s.store.DeleteCannedReply(ctx, tx, id)
	})
}
