package web

import "net/http"

func (s *Server) apiContactNote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b textBody
	if err := readJSON(w, r, 64<<10, &b); err != nil {
		return err
	}
	n, err := s.CRM.AddNote(r.Context(), actor(r), id, b.Text)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"note": n})
	return nil
}
