package web

import (
	"net/http"
	"strings"
)

func (s *Server) teamCreate(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || len(name) > 64 {
		return badRequest("name: 1 to 64 characters")
	}
	if _, err := s.Teams.Create(r.Context(), currentUser(r).ID, name); err != nil {
		return err
	}
	return s.settingsRedirect(w, r, "team")
}
