package web

import "net/http"

// apiContactDelete deletes a contact: an erasure (see eraseContact).
func (s *Server) apiContactDelete(w http.ResponseWriter, r *http.Request) error {
	c, err := s.pathContact(r)
	if err != nil {
		return err
	}
	if err := s.eraseContact(r.Context(), actor(r), c.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
