package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// emailChangeError says why a confirmation link does not work.
func emailChangeError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errStatus(http.StatusNotFound, "not_found", "This confirmation link is invalid, used or replaced by a newer one.")
	case errors.Is(err, store.ErrExpired):
		return errStatus(http.StatusGone, "expired", "This confirmation link has expired; ask for the change again from your profile.")
	case errors.Is(err, store.ErrConflict):
		return errStatus(http.StatusConflict, "conflict", "Another member signs in with this address now; the change was not made.")
	}
	return err
}

// emailChangeForm shows what a confirmation link would change, with a
// button: opening the link changes nothing, so that a mail scanner that
// fetches links does not confirm for the member. It works signed in or
// not: holding the link proves the new address, and the password was
// checked when the change was asked for.
func (s *Server) emailChangeForm(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Users.EmailChangeByHash(r.Context(), auth.HashToken(r.PathValue("token")))
	if err != nil {
		return emailChangeError(err)
	}
	s.render(w, r, "email_change", map[string]any{"Change": c, "Token": r.PathValue("token")})
	return nil
}

// emailChangeConfirm makes the change: the member signs in with the new
// address from now on. Their sessions and API tokens stay: the password did
// not change, and the link proved the new address. The old address is told
// that the change was made (without the new one), so that a member whose
// account was taken over learns of it; a failure to send that changes
// nothing.
func (s *Server) emailChangeConfirm(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Users.ConfirmEmailChange(r.Context(), auth.HashToken(r.PathValue("token")))
	if err != nil {
		return emailChangeError(err)
	}
	if m := s.mailer(); m != nil {
		name := s.DisplayName
		if name == "" {
			name = s.Workspace
		}
		body := fmt.Sprintf("The sign-in email of your account in %s was changed from this address to another one, "+
			"confirmed from a link sent to the new address.\n\nIf you did not ask for this, tell an admin of %s at once.\n", name, name)
		if err := m.SendSystemMail(r.Context(), c.OldEmail, "Your sign-in email for "+name+" was changed", body); err != nil {
			s.Log.Warn("the old address could not be told of an email change", "user", c.UserID)
		}
	}
	s.render(w, r, "email_change", map[string]any{"Done": true})
	return nil
}
