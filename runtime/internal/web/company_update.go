package web

import (
	"fmt"
	"net/http"
	"strings"
)

func (s *Server) companyUpdate(w http.ResponseWriter, r *http.Request) error {
	co, err := s.pathCompany(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return badRequest("the form does not parse")
	}
	co.Name = strings.TrimSpace(r.PostFormValue("name"))
	if co.Name == "" {
		return fieldError("name", "A company needs a name.")
	}
	co.Domain = r.PostFormValue("domain")
	if r.PostForm.Has("address") {
		co.Address = r.PostFormValue("address")
	}
	if r.PostForm.Has("custom") { // a form without the field leaves them as they are
		if co.Custom, err = customFromForm(r.PostFormValue("custom")); err != nil {
			return err
		}
	}
	if _, err := s.CRM.UpdateCompany(r.Context(), actor(r), co); err != nil {
		return storeFieldError(err, nil)
	}
	if err := s.notify(r, notice{Text: "Company saved."}); err != nil {
		return err
	}
	return s.seeOther(w, r, fmt.Sprintf("/companies/%d", co.ID))
}
