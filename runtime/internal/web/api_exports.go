package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// apiExports lists the workspace's exports, newest first.
func (s *Server) apiExports(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.exports()
	if err != nil {
		return err
	}
	list, err := svc.List(r.Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []*store.WorkspaceExport{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"exports": list})
	return nil
}
