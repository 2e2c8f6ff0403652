package web

import "net/http"

func (s *Server) apiContact(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.CRM.Contact(r.Context(), id)
	if err != nil {
		return err
	}
	activity, err := s.CRM.Activity(r.Context(), id, 100)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"contact": c, "activity": activity})
	return nil
}
