package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request) error {
	entries, err := s.Audit.Log(r.Context(), auditFilter(r.URL.Query()))
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []*store.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
	return nil
}
