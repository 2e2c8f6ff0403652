package team

import (
	"context"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// ByID returns a team with its members.
func (s *Service) ByID(ctx context.Context, id int64) (*store.Team, error) {
	return s.store.TeamByID(ctx, id)
}
