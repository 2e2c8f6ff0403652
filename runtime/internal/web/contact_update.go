package web

import (
	"fmt"
	"net/http"
)

func (s *Server) contactUpdate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.pathContact(r)
	if err != nil {
		return err
	}
	if err := s.contactFromForm(r, c); err != nil {
		return storeFieldError(err, nil)
	}
	if _, err := s.CRM.UpdateContact(r.Context(), actor(r), c); err != nil {
		return storeFieldError(err, contactFields)
	}
	if err := s.notify(r, notice{Text: "Contact saved."}); err != nil {
		return err
	}
	return s.seeOther(w, r, fmt.Sprintf("/contacts/%d", c.ID))
}
