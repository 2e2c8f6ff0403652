package web

import (
	"fmt"
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// contactsMerge folds the contact drop into keep. With chosen=1, as the
// merge page's confirmation sends, "from" (repeated) names the fields whose
// value comes from drop and the others keep keep's; without it, keep's
// values stand unless empty.
func (s *Server) contactsMerge(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("the form does not parse")
	}
	keep, drop := atoi64(r.PostFormValue("keep")), atoi64(r.PostFormValue("drop"))
	if keep == 0 || drop == 0 {
		return badRequest("keep and drop: want contact ids")
	}
	var ch *store.MergeChoice
	if r.PostFormValue("chosen") == "1" {
		ch = &store.MergeChoice{FromDrop: mergeFromDrop(r)}
	}
	c, err := s.CRM.MergeContactsChoosing(r.Context(), actor(r), keep, drop, ch)
	if err != nil {
		return err
	}
	if err := s.notify(r, notice{Text: fmt.Sprintf("Contacts merged: #%d was folded into this one.", drop)}); err != nil {
		return err
	}
	return s.seeOther(w, r, fmt.Sprintf("/contacts/%d", c.ID))
}
