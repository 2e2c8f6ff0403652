package web

import "net/http"

// cannedEdit shows a canned reply's form.
func (s *Server) cannedEdit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.Canned.ByID(r.Context(), id)
	if err != nil {
		return err
	}
	data := settingsData(r, "team")
	data["C"] = c
	s.render(w, r, "settings_canned", data)
	return nil
}
