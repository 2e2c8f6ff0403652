package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

func (s *Server) settings(w http.ResponseWriter, r *http.Request) error {
	return s.renderSettings(w, r, settingsNotices[r.URL.Query().Get("done")], "", "")
}

// settingsNotices are what the settings page says after a change, by the
// done= its redirect carries. The link names a notice and never holds its
// text: anyone can send a member a link, and the page would show it as ours.
var settingsNotices = map[string]string{
	"role":          "Role changed.",
	"member":        "Member updated.",
	"team":          "Team created.",
	"team-members":  "Team updated.",
	"token-revoked": "Token revoked.",
	"api-channel":   "API channel saved.",
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
		"CanAdmin": auth.Role(u.Role).AtLeast(auth.Admin), "Flash": flash, "Secret": secret, "SecretLabel": secretLabel}
	if auth.Role(u.Role).AtLeast(auth.Admin) {
		if data["Invites"], err = s.Invites.Pending(ctx); err != nil {
			return err
		}
		if data["Channel"], err = s.APIChannel.Settings(ctx); err != nil {
			return err
		}
	}
	s.render(w, r, "settings", data)
	return nil
}

// settingsRedirect goes back to the settings page, with a notice (a key of
// settingsNotices).
func settingsRedirect(w http.ResponseWriter, r *http.Request, done string) error {
	http.Redirect(w, r, "/settings?done="+url.QueryEscape(done), http.StatusSeeOther)
	return nil
}

// userRole changes a member's role. Only an owner grants or takes the owner
// role, and the last owner cannot be demoted.
func (s *Server) userRole(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	me := currentUser(r)
	role := auth.Role(r.PostFormValue("role"))
	if !role.Valid() {
		return badRequest("role: want owner, admin, agent or viewer")
	}
	target, err := s.Users.ByID(r.Context(), id)
	if err != nil {
		return err
	}
	if target.ID == me.ID {
		return badRequest("you cannot change your own role")
	}
	if (role == auth.Owner || target.Role == string(auth.Owner)) && auth.Role(me.Role) != auth.Owner {
		return errStatus(http.StatusForbidden, "not_allowed", "only an owner grants or removes the owner role")
	}
	if err := s.Users.SetRole(r.Context(), me.ID, id, role); err != nil {
		return err
	}
	return settingsRedirect(w, r, "role")
}

func (s *Server) userDisable(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	me := currentUser(r)
	target, err := s.Users.ByID(r.Context(), id)
	if err != nil {
		return err
	}
	if target.ID == me.ID || (target.Role == string(auth.Owner) && auth.Role(me.Role) != auth.Owner) {
		return errStatus(http.StatusForbidden, "not_allowed", "you cannot disable this member")
	}
	disable := r.PostFormValue("enable") == ""
	if err := s.Users.SetDisabled(r.Context(), me.ID, id, disable); err != nil {
		return err
	}
	return settingsRedirect(w, r, "member")
}

func (s *Server) teamCreate(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || len(name) > 64 {
		return badRequest("name: 1 to 64 characters")
	}
	if _, err := s.Teams.Create(r.Context(), currentUser(r).ID, name); err != nil {
		return err
	}
	return settingsRedirect(w, r, "team")
}

func (s *Server) teamMember(w http.ResponseWriter, r *http.Request) error {
	teamID, err := strconv.ParseInt(r.PostFormValue("team"), 10, 64)
	if err != nil {
		if teamID, err = pathID(r, "id"); err != nil {
			return badRequest("team: want an id")
		}
	}
	userID, err := strconv.ParseInt(r.PostFormValue("user"), 10, 64)
	if err != nil {
		return badRequest("user: want an id")
	}
	member := r.PostFormValue("remove") == ""
	if err := s.Teams.SetMember(r.Context(), currentUser(r).ID, teamID, userID, member); err != nil {
		return err
	}
	return settingsRedirect(w, r, "team-members")
}

func (s *Server) apiChannelUpdate(w http.ResponseWriter, r *http.Request) error {
	u := currentUser(r)
	if r.PostFormValue("reveal") != "" {
		secret, err := s.APIChannel.RevealSecret(r.Context(), u.ID)
		if err != nil {
			return err
		}
		return s.renderSettings(w, r, "", "Webhook signing secret", secret)
	}
	raw := strings.TrimSpace(r.PostFormValue("webhook_url"))
	if raw != "" {
		pu, err := url.Parse(raw)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return badRequest("webhook_url: want an http(s) URL")
		}
	}
	if err := s.APIChannel.SetWebhook(r.Context(), u.ID, raw); err != nil {
		return err
	}
	return settingsRedirect(w, r, "api-channel")
}
