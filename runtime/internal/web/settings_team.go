package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

// settingsTeam shows the members and their roles, the teams, pending
// invites and canned replies; admins manage them here.
func (s *Server) settingsTeam(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	data := settingsData(r, "team")
	var err error
	if data["Users"], err = s.Users.List(ctx); err != nil {
		return err
	}
	if data["Teams"], err = s.Teams.List(ctx); err != nil {
		return err
	}
	if data["Canned"], err = s.Canned.List(ctx, ""); err != nil {
		return err
	}
	data["Roles"] = auth.Roles()
	if data["CanAdmin"] == true {
		if data["Invites"], err = s.Invites.Pending(ctx); err != nil {
			return err
		}
	}
	s.render(w, r, "settings_team", data)
	return nil
}
