package web

import (
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

func (s *Server) inviteAccept(w http.ResponseWriter, r *http.Request) error {
	if err := s.sameOrigin(r); err != nil {
		return err
	}
	token := r.PathValue("token")
	inv, err := s.openInvite(r, token)
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
