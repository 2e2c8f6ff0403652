package web

import (
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

func (s *Server) companiesList(w http.ResponseWriter, r *http.Request) error {
	list, err := s.CRM.Companies(r.Context(), strings.TrimSpace(r.URL.Query().Get("q")), 200)
	if err != nil {
		return err
	}
	s.render(w, r, "companies", map[string]any{"Companies": list, "Q": r.URL.Query().Get("q"), "CanWrite": auth.Role(currentUser(r).Role).AtLeast(auth.Agent),
		"Places": s.placesAdapter() != nil})
	return nil
}
