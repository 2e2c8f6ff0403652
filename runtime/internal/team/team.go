// Package team is the service for teams, the groups of members
// conversations are routed to. Every change is written together with its
// audit log entry, in one transaction.
package team

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Service is the workspace's teams.
type Service struct {
	store *store.Store
}

// New returns the service over st.
func New(st *store.Store) *Service { return &Service{store: st} }

// List lists the teams with their members.
func (s *Service) List(ctx context.Context) ([]*store.Team, error) {
	return s.store.Teams(ctx)
}

// Create adds a team; a taken name gives store.ErrConflict.
func (s *Service) Create(ctx context.Context, actor int64, name string) (t *store.Team, err error) {
	err = s.store.Audited(ctx, &actor, "team.created", "team", func(tx pgx.Tx) (int64, error) {
		if t, err = s.store.CreateTeam(ctx, tx, name); err != nil {
			return 0, err
		}
		return t.ID, nil
	})
	return t, err
}

// SetMember puts a member in a team, or takes them out.
func (s *Service) SetMember(ctx context.Context, actor, teamID, userID int64, member bool) error {
	return s.store.Audited(ctx, &actor, "team.members_changed", "team", func(tx pgx.Tx) (int64, error) {
		if member {
			return teamID, s.store.AddTeamMember(ctx, tx, teamID, userID)
		}
		return teamID, s.store.RemoveTeamMember(ctx, tx, teamID, userID)
	})
}
