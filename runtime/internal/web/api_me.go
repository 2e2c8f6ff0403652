package web

import "net/http"

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) error {
	u := currentUser(r)
	writeJSON(w, http.StatusOK, map[string]any{"id": u.ID, "email": u.Email, "name": u.Name, "role": u.Role})
	return nil
}
