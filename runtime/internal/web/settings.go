package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

func (s *Server) settings(w http.ResponseWriter, r *http.Request) error {
	return s.renderSettings(w, r, "", "", "")
}

// settingsNotices are what the settings page says after a change. They
// reach it as a notice in the member's session (notice.go), never in the
// URL: anyone can send a member a link, and the page would show it as ours.
var settingsNotices = map[string]string{
	"role":          "Role changed.",
	"member":        "Member updated.",
	"team":          "Team created.",
	"team-members":  "Team updated.",
	"token-revoked": "Token revoked.",
	"api-channel":   "API channel saved.",
	// After an OAuth connection (oauth_callback.go).
	"integration-connected": "Mailbox connected.",
}

// renderSettings shows the settings page, with a one-time secret if given.
func (s *Server) renderSettings(w http.ResponseWriter, r *http.Request, flash, secretLabel, secret string) error {
	ctx := r.Context()
	u := currentUser(r)
	users, err := s.Users.List(ctx)
	if err != nil {
		return err
	}
	teams, err := s.Teams.List(ctx)
	if err != nil {
		return err
	}
	canned, err := s.Canned.List(ctx, "")
	if err != nil {
		return err
	}
	tokens, err := s.Tokens.List(ctx, u.ID)
	if err != nil {
		return err
	}
	data := map[string]any{"Users": users, "Teams": teams, "Canned": canned, "Tokens": tokens, "Roles": auth.Roles(),
		"CanAdmin": auth.Role(u.Role).AtLeast(auth.Admin), "Flash": flash, "Secret": secret, "SecretLabel": secretLabel,
		"Retention": s.Retention, "RetentionRules": s.Retention.Rules()}
	if auth.Role(u.Role).AtLeast(auth.Admin) {
		if data["Invites"], err = s.Invites.Pending(ctx); err != nil {
			return err
		}
		if data["Channel"], err = s.APIChannel.Settings(ctx); err != nil {
			return err
		}
		data["Mailboxes"] = s.mailboxes()
	}
	s.render(w, r, "settings", data)
	return nil
}

// settingsRedirect goes back to the settings page, with a notice (a key of
// settingsNotices).
func (s *Server) settingsRedirect(w http.ResponseWriter, r *http.Request, done string) error {
	if err := s.notify(r, notice{Text: settingsNotices[done]}); err != nil {
		return err
	}
	return s.seeOther(w, r, "/settings")
}
