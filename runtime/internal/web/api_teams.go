package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) apiTeams(w http.ResponseWriter, r *http.Request) error {
	teams, err := s.Teams.List(r.Context())
	if err != nil {
		return err
	}
	if teams == nil {
		teams = []*store.Team{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"teams": teams})
	return nil
}
