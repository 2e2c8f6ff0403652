package web

import (
	"net/http"
	"strings"
)

// settingsSecurity shows the password change, the member's signed-in
// sessions, and the workspace's retention facts.
func (s *Server) settingsSecurity(w http.ResponseWriter, r *http.Request) error {
	data := settingsData(r, "security")
	var hash []byte
	if se := currentSession(r); se != nil {
		hash = se.hash
	}
	var err error
	if data["Sessions"], err = s.Sessions.List(r.Context(), currentUser(r).ID, hash); err != nil {
		return err
	}
	data["Retention"], data["RetentionRules"] = s.Retention, s.Retention.Rules()
	data["PrivacyURL"] = strings.TrimRight(s.PublicURL, "/") + "/privacy"
	s.render(w, r, "settings_security", data)
	return nil
}
