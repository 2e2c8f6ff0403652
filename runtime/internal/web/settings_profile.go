package web

import (
	"net/http"
	"time"
)

// settingsProfile shows the member's own profile: name, email, time zone.
func (s *Server) settingsProfile(w http.ResponseWriter, r *http.Request) error {
	u := currentUser(r)
	data := settingsData(r, "profile")
	data["BrowserZone"] = browserZone(r)
	data["Now"] = time.Now()
	data["Zones"] = zoneChoices(u.TimeZone, browserZone(r))
	s.render(w, r, "settings_profile", data)
	return nil
}
