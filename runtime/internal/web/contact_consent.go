package web

import (
	"fmt"
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) contactConsent(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	optOut := r.PostFormValue("marketing_opt_out") == "on"
	restricted := r.PostFormValue("processing_restricted") == "on"
	if _, err := s.CRM.SetConsent(r.Context(), actor(r), id, store.Consent{MarketingOptOut: &optOut, ProcessingRestricted: &restricted, Source: "agent"}); err != nil {
		return err
	}
	if err := s.notify(r, notice{Text: "Consent saved."}); err != nil {
		return err
	}
	return s.seeOther(w, r, fmt.Sprintf("/contacts/%d", id))
}
