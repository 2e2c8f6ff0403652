package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// login checks the password, within the sign-in rate limits (see
// loginPerAddr), and starts a server-side session.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	if err := s.sameOrigin(r); err != nil {
		return err
	}
	email := auth.NormalizeEmail(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	fail := func(status int, msg string) error {
		w.WriteHeader(status)
		s.render(w, r, "login", map[string]any{"Error": msg, "Email": email, "Next": next})
		return nil
	}
	attempts, wait, err := s.beginLogin(r.Context(), email, limitKey(clientAddr(r, s.TrustedProxies)))
	if err != nil {
		return err
	}
	if attempts == nil {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		return fail(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins. Try again in %d minutes.", int(wait.Minutes())+1))
	}
	u, err := s.Users.ByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	hash := ""
	if u != nil && !u.Disabled {
		hash = u.PasswordHash
	}
	if !auth.CheckPassword(hash, password) {
		return fail(http.StatusUnauthorized, "That email and password do not match.") // its attempts stay counted
	}
	if err := attempts.succeeded(r.Context()); err != nil {
		return err
	}
	if err := s.startSession(w, r, u.ID, s.Sessions.SignIn); err != nil {
		return err
	}
	if u.MustChangePassword {
		next = "/password"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// loginAttempts are one sign-in's counts, withdrawn if it succeeds.
type loginAttempts struct {
	s    *Server
	pair string // the (email, address) key
	all  []*auth.Attempt
}

// beginLogin counts a sign-in attempt for email from the client address
// key, before the password is checked, and says whether it may go ahead: a
// nil result is refused, with how long to wait.
func (s *Server) beginLogin(ctx context.Context, email, addr string) (*loginAttempts, time.Duration, error) {
	la := &loginAttempts{s: s, pair: email + "\x00" + addr}
	a, ok, wait, err := s.loginByAddr.Begin(ctx, addr)
	if err != nil || !ok {
		return nil, wait, err
	}
	la.all = append(la.all, a)
	pair, ok, wait, err := s.loginByPair.Begin(ctx, la.pair)
	if err != nil || !ok {
		return nil, wait, err
	}
	la.all = append(la.all, pair)
	a, calm, _, err := s.loginByEmail.Begin(ctx, email)
	if err != nil {
		return nil, 0, err
	}
	la.all = append(la.all, a)
	if !calm && pair.Earlier() > 0 { // under attack: only a clean address gets a try
		return nil, pair.Wait(), nil
	}
	return la, 0, nil
}

// succeeded withdraws the attempt from every count, and forgets the
// failures of this account from this address. The account's failures from
// other addresses stay: they may be an attack still going on.
func (la *loginAttempts) succeeded(ctx context.Context) error {
	var errs []error
	for _, a := range la.all {
		errs = append(errs, a.Succeeded(ctx))
	}
	return errors.Join(append(errs, la.s.loginByPair.Reset(ctx, la.pair))...)
}
