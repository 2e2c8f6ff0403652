package web

import (
	"fmt"
	"net/http"
	"strconv"
)

// teamMember adds a member to a team, or with remove= takes them out.
func (s *Server) teamMember(w http.ResponseWriter, r *http.Request) error {
	teamID, err := strconv.ParseInt(r.PostFormValue("team"), 10, 64)
	if err != nil || teamID <= 0 {
		if teamID, err = pathID(r, "id"); err != nil {
			return fieldError("team", "want a team")
		}
	}
	userID, err := strconv.ParseInt(r.PostFormValue("user"), 10, 64)
	if err != nil || userID <= 0 {
		return fieldError("user", "want a member")
	}
	if _, err := s.Teams.ByID(r.Context(), teamID); err != nil {
		return err
	}
	member := r.PostFormValue("remove") == ""
	if err := s.Teams.SetMember(r.Context(), currentUser(r).ID, teamID, userID, member); err != nil {
		return err
	}
	if err := s.notify(r, notice{Text: settingsNotices["team-members"].text}); err != nil {
		return err
	}
	return s.seeOther(w, r, fmt.Sprintf("/settings/teams/%d", teamID))
}
