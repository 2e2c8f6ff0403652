package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// consentBody changes a contact's consent flags; a flag left out stays.
type consentBody struct {
	MarketingOptOut      *bool `json:"marketingOptOut"`
	ProcessingRestricted *bool `json:"processingRestricted"`
}

// apiContactConsent changes a contact's marketing opt-out and processing
// restriction, recording each change in its consent history with the
// source "api" (store.SetContactConsent). While processing is restricted,
// lifting the restriction is the only change allowed (409 restricted).
func (s *Server) apiContactConsent(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b consentBody
	if err := readJSON(w, r, 4<<10, &b); err != nil {
		return err
	}
	if b.MarketingOptOut == nil && b.ProcessingRestricted == nil {
		return fieldError("marketingOptOut", "marketingOptOut: give marketingOptOut, processingRestricted or both")
	}
	c, err := s.CRM.SetConsent(r.Context(), actor(r), id, store.Consent{MarketingOptOut: b.MarketingOptOut, ProcessingRestricted: b.ProcessingRestricted, Source: "api"})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"contact": c})
	return nil
}
