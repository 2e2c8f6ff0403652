package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, "login", map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
	return nil
}

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

// startSession starts a session for userID, with start (a sign-in, or a
// session after a password change or on joining), and gives the browser its
// cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, userID int64,
	start func(ctx context.Context, userID int64, expires time.Time) (string, error)) error {
	expires := time.Now().Add(s.SessionTTL)
	token, err := start(r.Context(), userID, expires)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if se := currentSession(r); se != nil {
		if err := s.Sessions.End(r.Context(), se.hash); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// sameOrigin refuses a form posted from another site to a public route (login
// CSRF), when the browser says where it came from.
func (s *Server) sameOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || !strings.EqualFold(u.Host, r.Host) {
		return errStatus(http.StatusForbidden, "csrf", "this form must be posted from %s", r.Host)
	}
	return nil
}

// safeNext returns next when it is a path on this site, and /inbox when it
// is not.
func safeNext(next string) string {
	if !localPath(next) {
		return "/inbox"
	}
	return next
}

// localPath says whether p is a path on this site and nothing a browser or
// proxy could read as another site. Browsers drop tabs and newlines inside
// a URL, read a backslash as a slash, and some map Unicode look-alikes of
// the slash onto it; servers and proxies may decode %2F and %5C. So p is
// printable ASCII (anything else percent-encoded), starts with exactly one
// slash, and its path, once decoded, holds no slash pair at its start, no
// backslash, no control character and nothing but ASCII. A query or
// fragment may carry percent-encoded text: it stays encoded.
func localPath(p string) bool {
	if len(p) == 0 || len(p) > 2048 || p[0] != '/' || strings.HasPrefix(p, "//") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Opaque != "" || u.User != nil || u.Host != "" {
		return false
	}
	if strings.HasPrefix(u.Path, "//") {
		return false
	}
	for i := 0; i < len(u.Path); i++ {
		if c := u.Path[i]; c < ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}
