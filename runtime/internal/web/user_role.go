package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

// userRole changes a member's role. Only an owner grants or takes the owner
// role, and the last owner cannot be demoted.
func (s *Server) userRole(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	me := currentUser(r)
	role := auth.Role(r.PostFormValue("role"))
	if !role.Valid() {
		return badRequest("role: want owner, admin, agent or viewer")
	}
	target, err := s.Users.ByID(r.Context(), id)
	if err != nil {
		return err
	}
	if target.ID == me.ID {
		return badRequest("you cannot change your own role")
	}
	if (role == auth.Owner || target.Role == string(auth.Owner)) && auth.Role(me.Role) != auth.Owner {
		return errStatus(http.StatusForbidden, "not_allowed", "only an owner grants or removes the owner role")
	}
	if err := s.Users.SetRole(r.Context(), me.ID, id, role); err != nil {
		return err
	}
	return s.settingsRedirect(w, r, "role")
}
