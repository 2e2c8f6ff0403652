package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

func (s *Server) userDisable(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	me := currentUser(r)
	target, err := s.Users.ByID(r.Context(), id)
	if err != nil {
		return err
	}
	if target.ID == me.ID || (target.Role == string(auth.Owner) && auth.Role(me.Role) != auth.Owner) {
		return errStatus(http.StatusForbidden, "not_allowed", "you cannot disable this member")
	}
	disable := r.PostFormValue("enable") == ""
	if err := s.Users.SetDisabled(r.Context(), me.ID, id, disable); err != nil {
		return err
	}
	return s.settingsRedirect(w, r, "member")
}
