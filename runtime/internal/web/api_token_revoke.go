package web

import "net/http"

func (s *Server) apiTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := s.revokeToken(r); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
