package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// settingsProfile shows the member's own profile: name, email (with a
// pending change of it), time zone.
func (s *Server) settingsProfile(w http.ResponseWriter, r *http.Request) error {
	u := currentUser(r)
	data := settingsData(r, "profile")
	data["BrowserZone"] = browserZone(r)
	data["Now"] = time.Now()
	data["Zones"] = zoneChoices(u.TimeZone, browserZone(r))
	pending, err := s.Users.PendingEmailChange(r.Context(), u.ID)
	switch {
	case err == nil:
		data["PendingEmail"] = pending
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	data["CanMail"] = s.mailer() != nil
	s.render(w, r, "settings_profile", data)
	return nil
}
