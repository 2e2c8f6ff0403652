package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// cannedUpdate saves a canned reply's shortcut, title and text.
func (s *Server) cannedUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := cannedForm(r)
	if err != nil {
		return err
	}
	c.ID = id
	if err := s.Canned.Update(r.Context(), currentUser(r).ID, c); err != nil {
		return cannedError(err, c.Shortcut)
	}
	return s.settingsRedirect(w, r, "canned")
}

// cannedForm reads a canned reply form.
func cannedForm(r *http.Request) (*store.CannedReply, error) {
	c := &store.CannedReply{Shortcut: trimShortcut(r.PostFormValue("shortcut")),
		Title: trimSpace(r.PostFormValue("title")), Body: r.PostFormValue("body")}
	switch {
	case !shortcutRule.MatchString(c.Shortcut):
		return nil, fieldError("shortcut", "1 to 32 lower-case letters, digits, '-' or '_', starting with a letter or digit")
	case c.Title == "" || len(c.Title) > 128:
		return nil, fieldError("title", "1 to 128 characters")
	case trimSpace(c.Body) == "":
		return nil, fieldError("body", "write the reply's text")
	}
	return c, nil
}
