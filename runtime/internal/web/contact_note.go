package web

import (
	"fmt"
	"net/http"
)

func (s *Server) contactNote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := s.CRM.AddNote(r.Context(), actor(r), id, r.PostFormValue("body")); err != nil {
		return storeFieldError(err, map[string]string{"note": "body"})
	}
	if err := s.notify(r, notice{Text: "Note added."}); err != nil {
		return err
	}
	return s.seeOther(w, r, fmt.Sprintf("/contacts/%d", id))
}
