package web

import (
	"context"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// members returns the members and their names by id, for showing who did
// what.
func (s *Server) members(ctx context.Context) ([]*store.User, map[int64]string, error) {
	users, err := s.Users.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	names := make(map[int64]string, len(users))
	for _, u := range users {
		names[u.ID] = u.Name
	}
	return users, names, nil
}
