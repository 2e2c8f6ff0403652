package web

import (
	"net/http"
)

func (s *Server) apiDeal(w http.ResponseWriter, r *http.Request) error {
	d, err := s.pathDeal(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"deal": d})
	return nil
}

// dealPatch is a PATCH body: the fields it names change, the others stay.
type dealPatch struct {
	Title      optional[string] `json:"title"`
	ValueMinor optional[int64]  `json:"valueMinor"`
	Currency   optional[string] `json:"currency"`
	StageID    optional[int64]  `json:"stageId"`
	OwnerID    optional[int64]  `json:"ownerId"`
	ContactID  optional[int64]  `json:"contactId"`
	CompanyID  optional[int64]  `json:"companyId"`
}

func (s *Server) apiDealUpdate(w http.ResponseWriter, r *http.Request) error {
	d, err := s.pathDeal(r)
	if err != nil {
		return err
	}
	var p dealPatch
	if err := readJSON(w, r, 64<<10, &p); err != nil {
		return err
	}
	for name, o := range map[string]struct{ set, null bool }{"title": {p.Title.Set, p.Title.Null}, "currency": {p.Currency.Set, p.Currency.Null},
		"stageId": {p.StageID.Set, p.StageID.Null}} {
		if o.null {
			return badRequest("%s: %v", name, errNullField)
		}
	}
	if p.Title.Set {
		d.Title = p.Title.V
	}
	if p.Currency.Set {
		d.Currency = p.Currency.V
	}
	if p.StageID.Set {
		d.StageID = p.StageID.V
	}
	if p.ValueMinor.Set {
		d.ValueMinor = p.ValueMinor.ptr()
	}
	if p.OwnerID.Set {
		d.OwnerID = p.OwnerID.ptr()
	}
	if p.ContactID.Set {
		d.ContactID = p.ContactID.ptr()
	}
	if p.CompanyID.Set {
		d.CompanyID = p.CompanyID.ptr()
	}
	out, err := s.CRM.EditDeal(r.Context(), actor(r), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"deal": out})
	return nil
}

func (s *Server) apiDealDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.CRM.DeleteDeal(r.Context(), actor(r), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
