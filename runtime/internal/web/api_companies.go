package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) apiCompanies(w http.ResponseWriter, r *http.Request) error {
	list, err := s.CRM.Companies(r.Context(), r.URL.Query().Get("q"), 200)
	if err != nil {
		return err
	}
	if list == nil {
		list = []*store.Company{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"companies": list})
	return nil
}
