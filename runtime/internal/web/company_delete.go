package web

import (
	"fmt"
	"net/http"
)

// companyDeleteForm asks to confirm a company's deletion, saying how many
// people and deals stay without it.
func (s *Server) companyDeleteForm(w http.ResponseWriter, r *http.Request) error {
	co, err := s.pathCompany(r)
	if err != nil {
		return err
	}
	people, deals, err := s.CRM.Store.CompanyFootprint(r.Context(), co.ID)
	if err != nil {
		return err
	}
	s.render(w, r, "company_delete", map[string]any{"Co": co, "People": people, "Deals": deals})
	return nil
}

// companyDelete deletes a company; its contacts and deals stay, unlinked
// (crm.Service.DeleteCompany).
func (s *Server) companyDelete(w http.ResponseWriter, r *http.Request) error {
	co, err := s.pathCompany(r)
	if err != nil {
		return err
	}
	if err := s.CRM.DeleteCompany(r.Context(), actor(r), co.ID); err != nil {
		return err
	}
	if err := s.notify(r, notice{Text: fmt.Sprintf("Company “%s” deleted.", co.Name)}); err != nil {
		return err
	}
	return s.seeOther(w, r, "/companies")
}
