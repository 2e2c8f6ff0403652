package web

import "net/http"

func (s *Server) apiNote(w http.ResponseWriter, r *http.Request) error {
	return s.apiPost(w, r, s.Inbox.Note)
}
