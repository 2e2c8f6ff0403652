package web

import (
	"net/http"
	"strings"
	"unicode/utf8"
)

// profileUpdate saves the signed-in member's name and time zone; a member
// edits only their own profile.
func (s *Server) profileUpdate(w http.ResponseWriter, r *http.Request) error {
	u := currentUser(r)
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return fieldError("name", "1 to 100 characters")
	}
	tz := strings.TrimSpace(r.PostFormValue("time_zone"))
	if tz != "" && loadZone(tz) == nil {
		return fieldError("time_zone", "%q is not a time zone we know", tz)
	}
	if err := s.Users.SetProfile(r.Context(), u.ID, name, tz); err != nil {
		return err
	}
	return s.settingsRedirect(w, r, "profile")
}
