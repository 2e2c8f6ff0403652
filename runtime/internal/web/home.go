package web

import "net/http"

func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/inbox", http.StatusSeeOther)
	return nil
}
