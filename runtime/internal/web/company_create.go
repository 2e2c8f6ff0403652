package web

import (
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) companyCreate(w http.ResponseWriter, r *http.Request) error {
	c := &store.Company{Name: strings.TrimSpace(r.PostFormValue("name")), Domain: strings.TrimSpace(r.PostFormValue("domain")),
		Address: r.PostFormValue("address")}
	if _, err := s.CRM.CreateCompany(r.Context(), actor(r), c); err != nil {
		return err
	}
	http.Redirect(w, r, "/companies", http.StatusSeeOther)
	return nil
}
