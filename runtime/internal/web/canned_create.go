package web

import (
	"net/http"
	"regexp"
	"strings"
)

// shortcutRule is a canned reply's shortcut, as the database checks it.
// The form's pattern attribute says the same, in a form browsers accept
// with the v flag ("-" escaped in a class).
var shortcutRule = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

func trimShortcut(v string) string { return strings.TrimPrefix(strings.TrimSpace(v), "/") }
func trimSpace(v string) string    { return strings.TrimSpace(v) }

func (s *Server) cannedCreate(w http.ResponseWriter, r *http.Request) error {
	c, err := cannedForm(r)
	if err != nil {
		return err
	}
	if _, err := s.Canned.Create(r.Context(), currentUser(r).ID, c); err != nil {
		return cannedError(err, c.Shortcut)
	}
	return s.settingsRedirect(w, r, "canned")
}
