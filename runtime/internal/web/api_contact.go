package web

import "net/http"

func (s *Server) apiContact(w http.ResponseWriter, r *http.Request) error {
	c, err := s.pathContact(r)
	if err != nil {
		return err
	}
	activity, err := s.CRM.Activity(r.Context(), c.ID, 100)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"contact": c, "activity": activity})
	return nil
}
