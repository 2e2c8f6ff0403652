package web

import (
	"fmt"
	"net/http"
)

func (s *Server) dealUpdate(w http.ResponseWriter, r *http.Request) error {
	d, err := s.pathDeal(r)
	if err != nil {
		return err
	}
	if d, err = s.dealFromForm(r, d); err != nil {
		return err
	}
	if d, err = s.CRM.EditDeal(r.Context(), actor(r), d); err != nil {
		return dealFieldError(err)
	}
	if err := s.notify(r, notice{Text: "Deal saved."}); err != nil {
		return err
	}
	return s.seeOther(w, r, fmt.Sprintf("/deals/%d", d.ID))
}
