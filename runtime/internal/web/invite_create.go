package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

// inviteCreate makes an invite link that expires; the link is shown once.
func (s *Server) inviteCreate(w http.ResponseWriter, r *http.Request) error {
	u := currentUser(r)
	email := auth.NormalizeEmail(r.PostFormValue("email"))
	role := auth.Role(r.PostFormValue("role"))
	if !strings.Contains(email, "@") || len(email) > 254 {
		return badRequest("email: want an email address")
	}
	if !role.Valid() || role == auth.Owner {
		return badRequest("role: want admin, agent or viewer")
	}
	if role == auth.Admin && auth.Role(u.Role) != auth.Owner && auth.Role(u.Role) != auth.Admin {
		return errStatus(http.StatusForbidden, "not_allowed", "only owners and admins invite admins")
	}
	if _, err := s.Users.ByEmail(r.Context(), email); err == nil {
		return fieldConflict("email", "%s is already a member", email)
	}
	inv, token, err := s.Invites.Create(r.Context(), u.ID, email, role, time.Now().Add(s.InviteTTL))
	if err != nil {
		return err
	}
	link := strings.TrimRight(s.PublicURL, "/") + "/invite/" + token
	if err := s.notify(r, notice{Text: "Invite created for " + email + ". Send them this link; it expires " +
		localtime(s.location(r), inv.ExpiresAt) + ".", SecretLabel: "Invite link", Secret: link}); err != nil {
		return err
	}
	return s.seeOther(w, r, "/settings/team")
}
