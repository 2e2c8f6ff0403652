package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

type contactBody struct {
	Name      string            `json:"name"`
	Emails    []string          `json:"emails"`
	Phones    []string          `json:"phones"`
	CompanyID *int64            `json:"companyId"`
	Tags      []string          `json:"tags"`
	Custom    map[string]string `json:"custom"`
	Address   string            `json:"address"`
}

func (s *Server) apiContactCreate(w http.ResponseWriter, r *http.Request) error {
	var b contactBody
	if err := readJSON(w, r, 64<<10, &b); err != nil {
		return err
	}
	c, err := s.CRM.CreateContact(r.Context(), actor(r), &store.Contact{Name: b.Name, Emails: b.Emails, Phones: b.Phones, CompanyID: b.CompanyID, Tags: b.Tags, Custom: b.Custom,
		Address: b.Address})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"contact": c})
	return nil
}
