package web

import "net/http"

func (s *Server) passwordForm(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, "password", nil)
	return nil
}
