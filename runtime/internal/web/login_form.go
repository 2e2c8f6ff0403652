package web

import "net/http"

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, "login", map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
	return nil
}
