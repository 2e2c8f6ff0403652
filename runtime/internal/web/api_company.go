package web

import (
	"net/http"
)

func (s *Server) apiCompany(w http.ResponseWriter, r *http.Request) error {
	co, err := s.pathCompany(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"company": co})
	return nil
}

// companyPatch is a PATCH body: the fields it names change, the others stay.
type companyPatch struct {
	Name    optional[string]            `json:"name"`
	Domain  optional[string]            `json:"domain"`
	Address optional[string]            `json:"address"`
	Custom  optional[map[string]string] `json:"custom"`
}

func (s *Server) apiCompanyUpdate(w http.ResponseWriter, r *http.Request) error {
	co, err := s.pathCompany(r)
	if err != nil {
		return err
	}
	var p companyPatch
	if err := readJSON(w, r, 64<<10, &p); err != nil {
		return err
	}
	if p.Name.Null {
		return badRequest("name: %v", errNullField)
	}
	if p.Name.Set {
		co.Name = p.Name.V
	}
	if p.Domain.Set {
		co.Domain = p.Domain.V // null clears it, as ""
	}
	if p.Address.Set {
		co.Address = p.Address.V
	}
	if p.Custom.Set {
		co.Custom = p.Custom.V
	}
	out, err := s.CRM.UpdateCompany(r.Context(), actor(r), co)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"company": out})
	return nil
}
