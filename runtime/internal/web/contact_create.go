package web

import (
	"fmt"
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) contactCreate(w http.ResponseWriter, r *http.Request) error {
	c := &store.Contact{}
	if err := s.contactFromForm(r, c); err != nil {
		return storeFieldError(err, nil)
	}
	c, err := s.CRM.CreateContact(r.Context(), actor(r), c)
	if err != nil {
		return storeFieldError(err, contactFields)
	}
	if err := s.notify(r, notice{Text: "Contact added."}); err != nil {
		return err
	}
	return s.seeOther(w, r, fmt.Sprintf("/contacts/%d", c.ID))
}

// contactFields are the contact form's names for the store's fields.
var contactFields = map[string]string{"companyId": "company"}
