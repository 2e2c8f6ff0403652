package web

import (
	"net/http"
)

func (s *Server) inboxList(w http.ResponseWriter, r *http.Request) error {
	data, err := s.inboxData(r, parseView(r.URL.Query()), 0)
	if err != nil {
		return err
	}
	s.render(w, r, "inbox", data)
	return nil
}
