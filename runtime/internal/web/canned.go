package web

import (
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// cannedLookup serves canned replies for /shortcut insertion in the composer.
func (s *Server) cannedLookup(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Store.CannedReplies(r.Context(), strings.TrimPrefix(r.URL.Query().Get("prefix"), "/"))
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
	c, err := s.Store.CreateCannedReply(r.Context(), u.ID, c)
	if err != nil {
		if err == store.ErrConflict {
			return errStatus(http.StatusConflict, "conflict", "shortcut: /%s is taken", r.PostFormValue("shortcut"))
		}
		return badRequest("shortcut: 1 to 32 lower-case letters, digits, '-' or '_'")
	}
	_ = s.Store.Audit(r.Context(), nil, &u.ID, "user", "canned_reply.created", "canned_reply", c.ID)
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
	return nil
}

func (s *Server) cannedDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Store.DeleteCannedReply(r.Context(), id); err != nil {
		return err
	}
	u := currentUser(r)
	_ = s.Store.Audit(r.Context(), nil, &u.ID, "user", "canned_reply.deleted", "canned_reply", id)
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
	return nil
}
