package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
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
		return errStatus(http.StatusConflict, "conflict", "%s is already a member", email)
	}
	inv, token, err := s.Invites.Create(r.Context(), u.ID, email, role, time.Now().Add(s.InviteTTL))
	if err != nil {
		return err
	}
	link := strings.TrimRight(s.PublicURL, "/") + "/invite/" + token
	return s.renderSettings(w, r, "Invite created for "+email+". Send them this link; it expires "+inv.ExpiresAt.UTC().Format("2 Jan 15:04 UTC")+".", "Invite link", link)
}

func (s *Server) inviteForm(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.Invites.ByToken(r.Context(), r.PathValue("token"))
	if errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusNotFound, "not_found", "this invite link is invalid, used or expired; ask for a new one")
	}
	if err != nil {
		return err
	}
	s.render(w, r, "invite", map[string]any{"Invite": inv, "Token": r.PathValue("token")})
	return nil
}

func (s *Server) inviteAccept(w http.ResponseWriter, r *http.Request) error {
	if err := s.sameOrigin(r); err != nil {
		return err
	}
	token := r.PathValue("token")
	inv, err := s.Invites.ByToken(r.Context(), token)
	if errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusNotFound, "not_found", "this invite link is invalid, used or expired; ask for a new one")
	}
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	pwHash, err := auth.HashPassword(r.PostFormValue("new"))
	if name == "" || len(name) > 128 || err != nil {
		w.WriteHeader(http.StatusBadRequest)
		s.render(w, r, "invite", map[string]any{"Invite": inv, "Token": token, "Error": "Give your name, and a password of 10 to 72 bytes."})
		return nil
	}
	u, err := s.Invites.Accept(r.Context(), token, name, pwHash)
	if err != nil {
		return err
	}
	if err := s.startSession(w, r, u.ID, s.Sessions.Start); err != nil {
		return err
	}
	http.Redirect(w, r, "/inbox", http.StatusSeeOther)
	return nil
}
