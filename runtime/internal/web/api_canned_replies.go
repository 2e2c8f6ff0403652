package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) apiCannedReplies(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Canned.List(r.Context(), r.URL.Query().Get("prefix"))
	if err != nil {
		return err
	}
	if list == nil {
		list = []*store.CannedReply{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"cannedReplies": list})
	return nil
}
