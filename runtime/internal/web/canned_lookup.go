package web

import (
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// cannedLookup serves canned replies for /shortcut insertion in the composer.
func (s *Server) cannedLookup(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Canned.List(r.Context(), strings.TrimPrefix(r.URL.Query().Get("prefix"), "/"))
	if err != nil {
		return err
	}
	if list == nil {
		list = []*store.CannedReply{}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}
