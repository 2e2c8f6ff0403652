package web

import (
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

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
