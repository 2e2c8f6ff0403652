package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

// settings sends /settings to its first section. Settings are split into
// sections, each its own page under /settings/: profile, team, channels
// (admins), api and security.
func (s *Server) settings(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/settings/profile", http.StatusSeeOther)
	return nil
}

// settingsNotices are what a settings page says after a change, and which
// section shows it. They reach it as a notice in the member's session
// (notice.go), never in the URL: anyone can send a member a link, and the
// page would show it as ours.
var settingsNotices = map[string]struct{ text, path string }{
	"role":           {"Role changed.", "/settings/team"},
	"member":         {"Member updated.", "/settings/team"},
	"team":           {"Team created.", "/settings/team"},
	"team-members":   {"Team updated.", "/settings/team"},
	"canned":         {"Canned reply saved.", "/settings/team"},
	"canned-deleted": {"Canned reply deleted.", "/settings/team"},
	"profile":        {"Profile saved.", "/settings/profile"},
	"token-revoked":  {"Token revoked.", "/settings/api"},
	"api-channel":    {"API channel saved.", "/settings/channels"},
	// After an OAuth connection (oauth_callback.go).
	"integration-connected": {"Mailbox connected.", "/settings/channels"},
}

// settingsData is what every settings section shows: which one it is, and
// whether the member may manage the workspace (CanAdmin) or export it
// (IsOwner).
func settingsData(r *http.Request, section string) map[string]any {
	role := auth.Role(currentUser(r).Role)
	return map[string]any{"Section": section, "CanAdmin": role.AtLeast(auth.Admin), "IsOwner": role.AtLeast(auth.Owner)}
}

// settingsRedirect goes back to the settings section of a change, with its
// notice (a key of settingsNotices).
func (s *Server) settingsRedirect(w http.ResponseWriter, r *http.Request, done string) error {
	n, ok := settingsNotices[done]
	if !ok {
		n.path = "/settings/profile"
	}
	if n.text != "" {
		if err := s.notify(r, notice{Text: n.text}); err != nil {
			return err
		}
	}
	return s.seeOther(w, r, n.path)
}
