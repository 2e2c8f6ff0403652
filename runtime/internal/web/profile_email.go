package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// emailChangeTTL is how long an email change's confirmation link works.
const emailChangeTTL = 24 * time.Hour

// systemMailer is an email Integration that can send the runtime's own
// mail (email.Engine, microsoft.Adapter).
type systemMailer interface {
	SendSystemMail(ctx context.Context, to, subject, body string) error
}

// mailer returns a connected email Integration to send the runtime's own
// mail through, or nil when the workspace has none.
func (s *Server) mailer() systemMailer {
	if s.Integrations == nil {
		return nil
	}
	for _, t := range []string{"imap", "microsoft"} {
		for _, a := range s.Integrations.OfType(t) {
			if m, ok := a.(systemMailer); ok {
				return m
			}
		}
	}
	return nil
}

// errMailFailed is a confirmation that could not be sent. The provider's
// answer is not shown or logged: it may quote the address.
var errMailFailed = errStatus(http.StatusBadGateway, "mail_failed",
	"The confirmation email could not be sent through the workspace's email Integration; nothing changed. Try again later.")

// profileEmail starts a change of the signed-in member's email address:
// with their current password (counted against passwordGuesses, as a
// password change is), to an address no other member has, it mails a
// single-use confirmation link, valid for emailChangeTTL, to the new
// address through the workspace's email Integration. The address changes
// only when the link is opened (emailChangeConfirm); a new request
// replaces a pending one.
func (s *Server) profileEmail(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.startEmailChange(w, r, r.PostFormValue("email"), r.PostFormValue("password")); err != nil {
		return err
	}
	if err := s.notify(r, notice{Text: "We sent a confirmation link to your new address. Your email changes when you open it."}); err != nil {
		return err
	}
	return s.seeOther(w, r, "/settings/profile")
}

// startEmailChange checks and records a change of the signed-in member's
// email to newEmail, and mails its confirmation link; see profileEmail.
func (s *Server) startEmailChange(w http.ResponseWriter, r *http.Request, newEmail, password string) (*store.EmailChange, error) {
	ctx := r.Context()
	u := currentUser(r)
	m := s.mailer()
	if m == nil {
		return nil, errStatus(http.StatusConflict, "no_mailer", "No email Integration is connected, so no confirmation can be sent; an admin can connect one.")
	}
	email, ok := store.ParseEmail(newEmail)
	if !ok {
		return nil, fieldError("email", "Give an email address, such as name@example.com.")
	}
	if email == u.Email {
		return nil, fieldError("email", "This is your email address already.")
	}
	if password == "" {
		return nil, fieldError("password", "Give your current password.")
	}
	key := strconv.FormatInt(u.ID, 10)
	attempt, ok, wait, err := s.passwordByUser.Begin(ctx, key)
	if err != nil {
		return nil, err
	}
	if !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		return nil, errStatus(http.StatusTooManyRequests, "too_many_attempts", "Too many wrong passwords; try again in %d minutes.", int(wait.Minutes())+1)
	}
	if !auth.CheckPassword(u.PasswordHash, password) {
		return nil, fieldError("password", "The password is wrong.")
	}
	if err := attempt.Succeeded(ctx); err != nil {
		return nil, err
	}
	if err := s.passwordByUser.Reset(ctx, key); err != nil {
		return nil, err
	}
	token, hash := auth.NewToken("")
	link := strings.TrimRight(s.PublicURL, "/") + "/email-change/" + token
	name := s.DisplayName
	if name == "" {
		name = s.Workspace
	}
	body := fmt.Sprintf("Someone, probably you, asked to make this address the sign-in email of their account in %s.\n\n"+
		"To confirm, open this link within 24 hours:\n\n%s\n\nIf it was not you, ignore this email: nothing changes.\n", name, link)
	c, err := s.Users.StartEmailChange(ctx, u.ID, email, hash, time.Now().Add(emailChangeTTL), func() error {
		if err := m.SendSystemMail(ctx, email, "Confirm your new email address for "+name, body); err != nil {
			s.Log.Warn("an email change confirmation could not be sent", "user", u.ID)
			return errMailFailed
		}
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, fieldConflict("email", "Another member signs in with this address.")
	}
	return c, err
}
