package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) dealCreate(w http.ResponseWriter, r *http.Request) error {
	value, err := parseMoney(r.PostFormValue("value"))
	if err != nil {
		return badRequest("value: %v", err)
	}
	stage, err := strconv.ParseInt(r.PostFormValue("stage"), 10, 64)
	if err != nil {
		return badRequest("stage: choose a stage")
	}
	d := &store.Deal{Title: strings.TrimSpace(r.PostFormValue("title")), ValueMinor: value,
		Currency: strings.ToUpper(strings.TrimSpace(r.PostFormValue("currency"))), StageID: stage, OwnerID: actor(r)}
	if c, err := optionalID(r.PostFormValue("contact"), "contact"); err != nil {
		return err
	} else {
		d.ContactID = c
	}
	if _, err := s.CRM.CreateDeal(r.Context(), actor(r), d); err != nil {
		return err
	}
	back := safeNext(r.PostFormValue("back"))
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}
