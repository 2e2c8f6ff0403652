package web

import "net/http"

func (s *Server) cannedDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Canned.Delete(r.Context(), currentUser(r).ID, id); err != nil {
		return err
	}
	return s.settingsRedirect(w, r, "canned-deleted")
}
