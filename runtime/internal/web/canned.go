package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// cannedLookup serves canned replies for /shortcut insertion in the composer.
func (s *Server) cannedLookup(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Canned.List(r.Context(), strings.TrimPrefix(r.URL.Query().Get("prefix"), "/"))
	if err != nil {
		return err
	}
	if list == nil {
		list = []*store.CannedReply{}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) cannedCreate(w http.ResponseWriter, r *http.Request) error {
	u := currentUser(r)
	c := &store.CannedReply{Shortcut: strings.TrimPrefix(strings.TrimSpace(r.PostFormValue("shortcut")), "/"),
		Title: strings.TrimSpace(r.PostFormValue("title")), Body: r.PostFormValue("body")}
	if c.Title == "" || strings.TrimSpace(c.Body) == "" {
		return badRequest("title and body are required")
	}
	if _, err := s.Canned.Create(r.Context(), u.ID, c); err != nil {
		return cannedError(err, r.PostFormValue("shortcut"))
	}
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
	return nil
}

// cannedError explains why a canned reply was not made.
func cannedError(err error, shortcut string) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return errStatus(http.StatusConflict, "conflict", "shortcut: /%s is taken", shortcut)
	case errors.Is(err, store.ErrInvalid):
		return badRequest("shortcut: 1 to 32 lower-case letters, digits, '-' or '_'")
	}
	return err
}

func (s *Server) cannedDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Canned.Delete(r.Context(), currentUser(r).ID, id); err != nil {
		return err
	}
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
	return nil
}
