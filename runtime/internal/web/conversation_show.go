package web

import (
	"html/template"
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

func (s *Server) conversationShow(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v := parseView(r.URL.Query())
	var data map[string]any
	switch frag := r.URL.Query().Get("fragment"); frag {
	case "conversation":
		// A live refresh of the conversation pane: the list is not shown.
		data = map[string]any{"Query": template.URL(v.query()), "CanWrite": auth.Role(currentUser(r).Role).AtLeast(auth.Agent)}
	default:
		if data, err = s.inboxData(r, v, id); err != nil {
			return err
		}
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
