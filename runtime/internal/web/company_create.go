package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) companyCreate(w http.ResponseWriter, r *http.Request) error {
	c := &store.Company{Name: strings.TrimSpace(r.PostFormValue("name")), Domain: strings.TrimSpace(r.PostFormValue("domain")),
		Address: r.PostFormValue("address")}
	c, err := s.CRM.CreateCompany(r.Context(), actor(r), c)
	if err != nil {
		return storeFieldError(err, nil)
	}
	if err := s.notify(r, notice{Text: "Company added."}); err != nil {
		return err
	}
	return s.seeOther(w, r, fmt.Sprintf("/companies/%d", c.ID))
}
