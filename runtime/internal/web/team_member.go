package web

import (
	"net/http"
	"strconv"
)

func (s *Server) teamMember(w http.ResponseWriter, r *http.Request) error {
	teamID, err := strconv.ParseInt(r.PostFormValue("team"), 10, 64)
	if err != nil {
		if teamID, err = pathID(r, "id"); err != nil {
			return badRequest("team: want an id")
		}
	}
	userID, err := strconv.ParseInt(r.PostFormValue("user"), 10, 64)
	if err != nil {
		return badRequest("user: want an id")
	}
	member := r.PostFormValue("remove") == ""
	if err := s.Teams.SetMember(r.Context(), currentUser(r).ID, teamID, userID, member); err != nil {
		return err
	}
	return s.settingsRedirect(w, r, "team-members")
}
