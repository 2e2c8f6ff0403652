package web

import (
	"fmt"
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) contactCreate(w http.ResponseWriter, r *http.Request) error {
	c := &store.Contact{}
	if err := s.contactFromForm(r, c); err != nil {
		return err
	}
	c, err := s.CRM.CreateContact(r.Context(), actor(r), c)
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/contacts/%d", c.ID), http.StatusSeeOther)
	return nil
}
