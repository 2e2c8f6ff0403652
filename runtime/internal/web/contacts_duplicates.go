package web

import "net/http"

// contactsDuplicates lists pairs of contacts that may be one person (same
// email or phone, or similar names), each with a link to compare and merge
// them. The contacts list loads it after the page: at 100,000 contacts the
// look-up takes a while, the list must not wait for it.
func (s *Server) contactsDuplicates(w http.ResponseWriter, r *http.Request) error {
	pairs, err := s.CRM.Duplicates(r.Context(), 20)
	if err != nil {
		return err
	}
	s.render(w, r, "duplicates", map[string]any{"Duplicates": pairs})
	return nil
}
