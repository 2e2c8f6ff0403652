package web

import (
	"net/http"
)

// contactPatch is a PATCH body: the fields it names change, the others
// stay. The consent flags are not among them: they change through the
// consent endpoint, which records each change.
type contactPatch struct {
	Name      optional[string]            `json:"name"`
	Emails    optional[[]string]          `json:"emails"`
	Phones    optional[[]string]          `json:"phones"`
	CompanyID optional[int64]             `json:"companyId"`
	Tags      optional[[]string]          `json:"tags"`
	Custom    optional[map[string]string] `json:"custom"`
	Address   optional[string]            `json:"address"`
	// Named only to refuse them with a message saying why.
	MarketingOptOut      optional[bool] `json:"marketingOptOut"`
	ProcessingRestricted optional[bool] `json:"processingRestricted"`
}

// apiContactUpdate changes the fields a PATCH body names; null empties a
// field (no company, no emails, an empty name).
func (s *Server) apiContactUpdate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.pathContact(r)
	if err != nil {
		return err
	}
	var p contactPatch
	if err := readJSON(w, r, 64<<10, &p); err != nil {
		return err
	}
	if p.MarketingOptOut.Set {
		return badRequest("marketingOptOut: consent changes through POST /api/v1/contacts/{id}/consent, which records each change")
	}
	if p.ProcessingRestricted.Set {
		return badRequest("processingRestricted: consent changes through POST /api/v1/contacts/{id}/consent, which records each change")
	}
	if p.Name.Set {
		c.Name = p.Name.V
	}
	if p.Emails.Set {
		c.Emails = p.Emails.V
	}
	if p.Phones.Set {
		c.Phones = p.Phones.V
	}
	if p.CompanyID.Set {
		c.CompanyID = p.CompanyID.ptr()
	}
	if p.Tags.Set {
		c.Tags = p.Tags.V
	}
	if p.Custom.Set {
		c.Custom = p.Custom.V
	}
	if p.Address.Set {
		c.Address = p.Address.V
	}
	out, err := s.CRM.UpdateContact(r.Context(), actor(r), c)
	if err != nil {
		return storeFieldError(err, nil)
	}
	writeJSON(w, http.StatusOK, map[string]any{"contact": out})
	return nil
}
