package web

import (
	"fmt"
	"net/http"
	"strconv"
)

func (s *Server) contactsMerge(w http.ResponseWriter, r *http.Request) error {
	keep, err1 := strconv.ParseInt(r.PostFormValue("keep"), 10, 64)
	drop, err2 := strconv.ParseInt(r.PostFormValue("drop"), 10, 64)
	if err1 != nil || err2 != nil {
		return badRequest("keep and drop: want contact ids")
	}
	c, err := s.CRM.MergeContacts(r.Context(), actor(r), keep, drop)
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/contacts/%d", c.ID), http.StatusSeeOther)
	return nil
}
