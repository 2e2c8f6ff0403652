package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels"
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
	users, err := s.Store.Users(ctx)
	if err != nil {
		return err
	}
	teams, err := s.Store.Teams(ctx)
	if err != nil {
		return err
	}
	canned, err := s.Store.CannedReplies(ctx, "")
	if err != nil {
		return err
	}
	tokens, err := s.Store.APITokens(ctx, u.ID)
	if err != nil {
		return err
	}
	data := map[string]any{"Users": users, "Teams": teams, "Canned": canned, "Tokens": tokens, "Roles": auth.Roles(),
		"CanAdmin": auth.Role(u.Role).AtLeast(auth.Admin), "Flash": flash, "Secret": secret, "SecretLabel": secretLabel}
	if auth.Role(u.Role).AtLeast(auth.Admin) {
		if data["Invites"], err = s.Store.PendingInvites(ctx); err != nil {
			return err
		}
		if data["Channel"], err = s.Store.APIChannelSettings(ctx, channels.NewSecret); err != nil {
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
	target, err := s.Store.UserByID(r.Context(), id)
	if err != nil {
		return err
	}
	if target.ID == me.ID {
		return badRequest("you cannot change your own role")
	}
	if (role == auth.Owner || target.Role == string(auth.Owner)) && auth.Role(me.Role) != auth.Owner {
		return errStatus(http.StatusForbidden, "not_allowed", "only an owner grants or removes the owner role")
	}
	if err := s.Store.SetRole(r.Context(), id, string(role)); err != nil {
		return err
	}
	_ = s.Store.Audit(r.Context(), nil, &me.ID, "user", "user.role_changed", "user", id)
	return settingsRedirect(w, r, "role")
}

func (s *Server) userDisable(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	me := currentUser(r)
	target, err := s.Store.UserByID(r.Context(), id)
	if err != nil {
		return err
	}
	if target.ID == me.ID || (target.Role == string(auth.Owner) && auth.Role(me.Role) != auth.Owner) {
		return errStatus(http.StatusForbidden, "not_allowed", "you cannot disable this member")
	}
	disable := r.PostFormValue("enable") == ""
	if err := s.Store.SetDisabled(r.Context(), id, disable); err != nil {
		return err
	}
	_ = s.Store.Audit(r.Context(), nil, &me.ID, "user", map[bool]string{true: "user.disabled", false: "user.enabled"}[disable], "user", id)
	return settingsRedirect(w, r, "member")
}

func (s *Server) teamCreate(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || len(name) > 64 {
		return badRequest("name: 1 to 64 characters")
	}
	t, err := s.Store.CreateTeam(r.Context(), name)
	if err != nil {
		return err
	}
	me := currentUser(r)
	_ = s.Store.Audit(r.Context(), nil, &me.ID, "user", "team.created", "team", t.ID)
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
	if r.PostFormValue("remove") != "" {
		err = s.Store.RemoveTeamMember(r.Context(), teamID, userID)
	} else {
		err = s.Store.AddTeamMember(r.Context(), teamID, userID)
	}
	if err != nil {
		return err
	}
	me := currentUser(r)
	_ = s.Store.Audit(r.Context(), nil, &me.ID, "user", "team.members_changed", "team", teamID)
	return settingsRedirect(w, r, "team-members")
}

func (s *Server) apiChannelUpdate(w http.ResponseWriter, r *http.Request) error {
	u := currentUser(r)
	if r.PostFormValue("reveal") != "" {
		c, err := s.Store.APIChannelSettings(r.Context(), channels.NewSecret)
		if err != nil {
			return err
		}
		_ = s.Store.Audit(r.Context(), nil, &u.ID, "user", "api_channel.secret_viewed", "api_channel", 1)
		return s.renderSettings(w, r, "", "Webhook signing secret", c.WebhookSecret)
	}
	raw := strings.TrimSpace(r.PostFormValue("webhook_url"))
	if raw != "" {
		pu, err := url.Parse(raw)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return badRequest("webhook_url: want an http(s) URL")
		}
	}
	if err := s.Store.SetAPIChannelWebhook(r.Context(), raw, channels.NewSecret); err != nil {
		return err
	}
	_ = s.Store.Audit(r.Context(), nil, &u.ID, "user", "api_channel.updated", "api_channel", 1)
	return settingsRedirect(w, r, "api-channel")
}
