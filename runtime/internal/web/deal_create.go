package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) dealCreate(w http.ResponseWriter, r *http.Request) error {
	d, err := s.dealFromForm(r, &store.Deal{OwnerID: actor(r)})
	if err != nil {
		return err
	}
	d, err = s.CRM.CreateDeal(r.Context(), actor(r), d)
	if err != nil {
		return dealFieldError(err)
	}
	if err := s.notify(r, notice{Text: fmt.Sprintf("Deal “%s” created.", d.Title)}); err != nil {
		return err
	}
	return s.seeOther(w, r, r.PostFormValue("back")) // the board's or the contact page's
}

// dealFromForm reads a deal form's fields into d: title, value, currency,
// stage, and contact, company and owner when the form has them (an empty
// one clears the field).
func (s *Server) dealFromForm(r *http.Request, d *store.Deal) (*store.Deal, error) {
	if err := r.ParseForm(); err != nil {
		return nil, badRequest("the form does not parse")
	}
	d.Title = strings.TrimSpace(r.PostFormValue("title"))
	if d.Title == "" {
		return nil, fieldError("title", "Give the deal a title.")
	}
	v, err := parseDealValue(r.PostFormValue("value"))
	if err != nil {
		return nil, fieldError("value", "Value: %v.", err)
	}
	d.ValueMinor = v
	d.Currency = strings.ToUpper(strings.TrimSpace(r.PostFormValue("currency")))
	if d.Currency != "" && !currencyCode(d.Currency) {
		return nil, fieldError("currency", "Currency: a three-letter code such as EUR or USD.")
	}
	if r.PostForm.Has("stage") {
		stage, err := optionalID(r.PostFormValue("stage"), "stage")
		if err != nil || stage == nil {
			return nil, fieldError("stage", "Choose a stage.")
		}
		d.StageID = *stage
	}
	for _, f := range []struct {
		name string
		to   **int64
	}{{"contact", &d.ContactID}, {"company", &d.CompanyID}, {"owner", &d.OwnerID}} {
		if !r.PostForm.Has(f.name) {
			continue
		}
		id, err := optionalID(r.PostFormValue(f.name), f.name)
		if err != nil {
			return nil, fieldError(f.name, "Choose a %s from the list.", f.name)
		}
		*f.to = id
	}
	return d, nil
}

func currencyCode(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// dealFieldError puts a store error about a deal's field next to the form's
// input for it: the store names fields as the JSON API does (stageId).
func dealFieldError(err error) error {
	return storeFieldError(err, map[string]string{"stageId": "stage", "ownerId": "owner", "contactId": "contact",
		"companyId": "company", "valueMinor": "value", "currency": "currency", "title": "title"})
}

// storeFieldError turns a store.ErrInvalid error, "invalid: <field>: why",
// into a fieldError on the form's input for that field (fields maps the
// store's names to the form's; a name it lacks is taken as it is). Other
// errors pass unchanged.
func storeFieldError(err error, fields map[string]string) error {
	if !errors.Is(err, store.ErrInvalid) {
		return err
	}
	msg := strings.TrimPrefix(err.Error(), store.ErrInvalid.Error()+": ")
	name, why, ok := strings.Cut(msg, ": ")
	if !ok || strings.ContainsAny(name, " ") {
		// "valueMinor must not be negative": the field is the first word.
		name, _, _ = strings.Cut(msg, " ")
		why = msg
	}
	if f, ok := fields[name]; ok {
		name = f
	}
	if why == "" {
		why = msg
	}
	return fieldError(name, "%s", upperFirst(why))
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
