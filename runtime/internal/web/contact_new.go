package web

import "net/http"

// contactNew is the form that adds a contact.
func (s *Server) contactNew(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, "contact_new", map[string]any{"Places": s.placesAdapter() != nil})
	return nil
}
