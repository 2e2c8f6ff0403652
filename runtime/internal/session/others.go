package session

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// List lists a member's live sessions; the one with token hash current is
// marked as such.
func (s *Service) List(ctx context.Context, userID int64, current []byte) ([]store.SessionSummary, error) {
	return s.store.UserSessions(ctx, userID, current)
}

// EndOthers signs a member out of every session but the one with token
// hash keep, and says how many ended.
func (s *Service) EndOthers(ctx context.Context, userID int64, keep []byte) (n int64, err error) {
	err = s.store.Audited(ctx, &userID, "sessions.ended_others", "user", func(tx pgx.Tx) (int64, error) {
		n, err = s.store.DeleteOtherSessions(ctx, tx, userID, keep)
		return userID, err
	})
	return n, err
}
