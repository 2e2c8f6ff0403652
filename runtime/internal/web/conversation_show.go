package web

import (
	"net/http"
)

func (s *Server) conversationShow(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v := parseView(r.URL.Query())
	data, err := s.inboxData(r, v, id)
	if err != nil {
		return err
	}
	// The list's live refresh needs the list only (with this conversation
	// selected), not the thread.
	if r.URL.Query().Get("fragment") != "list" {
		if err := s.conversationData(r, id, data); err != nil {
			return err
		}
	}
	s.render(w, r, "inbox", data)
	return nil
}
