package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) apiConversations(w http.ResponseWriter, r *http.Request) error {
	v := parseView(r.URL.Query())
	convs, err := s.Inbox.Conversations(r.Context(), v.store(currentUser(r).ID))
	if err != nil {
		return err
	}
	if convs == nil {
		convs = []*store.Conversation{}
	}
	out := map[string]any{"conversations": convs}
	if len(convs) == 50 {
		out["next"] = cursor(convs[len(convs)-1]) // pass as ?before= for the next page
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
