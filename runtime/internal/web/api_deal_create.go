package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) apiDealCreate(w http.ResponseWriter, r *http.Request) error {
	var d store.Deal
	if err := readJSON(w, r, 64<<10, &d); err != nil {
		return err
	}
	out, err := s.CRM.CreateDeal(r.Context(), actor(r), &d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"deal": out})
	return nil
}
