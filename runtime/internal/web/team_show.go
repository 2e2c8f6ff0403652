package web

import (
	"net/http"
	"slices"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// teamShow lists a team's members, and for admins who can be added.
func (s *Server) teamShow(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t, err := s.Teams.ByID(r.Context(), id)
	if err != nil {
		return err
	}
	users, err := s.Users.List(r.Context())
	if err != nil {
		return err
	}
	var members, others []*store.User
	for _, u := range users {
		if slices.Contains(t.Members, u.ID) {
			members = append(members, u)
		} else if !u.Disabled {
			others = append(others, u)
		}
	}
	data := settingsData(r, "team")
	data["Team"], data["Members"], data["Others"] = t, members, others
	s.render(w, r, "settings_team_show", data)
	return nil
}
