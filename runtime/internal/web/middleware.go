package web

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// handler is what every route implements.
type handler func(w http.ResponseWriter, r *http.Request) error

// kind says how a route authenticates and how its errors look.
type kind int

const (
	public kind = iota // no session needed
	page               // browser: session cookie, CSRF on writes, HTML errors, redirect to /login
	api                // JSON API: bearer token or session cookie (with CSRF), JSON errors
)

const sessionCookie = "sb_session"

type ctxKey int

const (
	userKey ctxKey = iota
	sessionKey
	tokenKey
)

type sessionInfo struct {
	hash []byte
	csrf string
}

func currentUser(r *http.Request) *store.User {
	u, _ := r.Context().Value(userKey).(*store.User)
	return u
}

func currentSession(r *http.Request) *sessionInfo {
	s, _ := r.Context().Value(sessionKey).(*sessionInfo)
	return s
}

// currentToken is the API token the request came with, or nil for a session.
func currentToken(r *http.Request) *store.APIToken {
	t, _ := r.Context().Value(tokenKey).(*store.APIToken)
	return t
}

// httpError is an error with a status, a stable code and a message safe to show.
type httpError struct {
	status  int
	code    string
	message string
}

func (e *httpError) Error() string { return e.message }

func errStatus(status int, code, format string, args ...any) error {
	return &httpError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return errStatus(http.StatusBadRequest, "invalid", format, args...)
}

// classify maps errors to a status, a code and a message. Unknown errors are
// 500s whose message is generic; the detail goes to the log only.
func classify(err error) *httpError {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he
	case errors.Is(err, store.ErrNotFound):
		return &httpError{http.StatusNotFound, "not_found", "not found"}
	case errors.Is(err, store.ErrConflict):
		return &httpError{http.StatusConflict, "conflict", "it already exists"}
	case errors.Is(err, store.ErrInvalid), errors.Is(err, inbox.ErrEmpty), errors.Is(err, inbox.ErrTooLong):
		return &httpError{http.StatusBadRequest, "invalid", err.Error()}
	case errors.Is(err, store.ErrRestricted): // inbox.ErrReadOnly is the same error
		return &httpError{http.StatusConflict, "restricted", err.Error()}
	case errors.Is(err, inbox.ErrNoChannel):
		return &httpError{http.StatusConflict, "no_channel", err.Error()}
	case errors.Is(err, auth.ErrWeakPassword):
		return &httpError{http.StatusBadRequest, "weak_password", err.Error()}
	case errors.Is(err, context.Canceled):
		return &httpError{499, "canceled", "the request was canceled"}
	}
	return &httpError{http.StatusInternalServerError, "internal", "something went wrong on our side"}
}

func (s *Server) wrap(rt route, maxBody int64) http.Handler {
	k, min, h := rt.kind, rt.min, rt.h
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				s.Log.Error("handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(v))
				s.writeError(w, r, k, &httpError{http.StatusInternalServerError, "internal", "something went wrong on our side"})
			}
		}()
		// The limit goes on before anything reads the body, and the form is
		// read and checked before the CSRF check looks into it.
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := checkText(r, k); err != nil {
			s.writeError(w, r, k, err)
			return
		}
		if k != public {
			r2, err := s.authenticate(r, k)
			if err != nil {
				s.writeError(w, r, k, err)
				return
			}
			r = r2
			u := currentUser(r)
			if u.MustChangePassword && !beforePasswordChange[rt.pattern] {
				if k == page && r.Header.Get("HX-Request") == "true" { // a fragment: have htmx load the whole page
					w.Header().Set("HX-Redirect", "/password")
					w.WriteHeader(http.StatusForbidden)
					return
				}
				if k == page {
					http.Redirect(w, r, "/password", http.StatusSeeOther)
					return
				}
				s.writeError(w, r, k, errStatus(http.StatusForbidden, "password_change_required",
					"replace your one-time password first: POST /api/v1/me/password, or sign in with a browser"))
				return
			}
			if t := currentToken(r); t != nil && t.Scope == store.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
				s.writeError(w, r, k, errStatus(http.StatusForbidden, "read_only_token", "this API token is read-only"))
				return
			}
			if !auth.Role(u.Role).AtLeast(min) {
				s.writeError(w, r, k, errStatus(http.StatusForbidden, "forbidden", "your role (%s) cannot do this; it needs %s", u.Role, min))
				return
			}
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, k, err)
		}
	})
}

// authenticate finds the user from a bearer token (API) or the session
// cookie, and checks CSRF for cookie-authenticated writes.
func (s *Server) authenticate(r *http.Request, k kind) (*http.Request, error) {
	ctx := r.Context()
	if k == api {
		if h := r.Header.Get("Authorization"); h != "" {
			token, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				return nil, errStatus(http.StatusUnauthorized, "unauthenticated", "use Authorization: Bearer <API token>")
			}
			u, t, err := s.Tokens.Authenticate(ctx, strings.TrimSpace(token))
			switch {
			case errors.Is(err, store.ErrNotFound):
				return nil, errStatus(http.StatusUnauthorized, "unauthenticated", "the API token is invalid or revoked")
			case errors.Is(err, store.ErrExpired):
				return nil, errStatus(http.StatusUnauthorized, "token_expired", "the API token has expired; make a new one in Settings")
			case err != nil:
				return nil, err
			}
			// Bearer requests carry no ambient credentials: no CSRF check needed.
			ctx = context.WithValue(ctx, userKey, u)
			return r.WithContext(context.WithValue(ctx, tokenKey, t)), nil
		}
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, errStatus(http.StatusUnauthorized, "unauthenticated", "sign in first")
	}
	hash := auth.HashToken(c.Value)
	u, se, err := s.Sessions.Authenticate(ctx, hash)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errStatus(http.StatusUnauthorized, "unauthenticated", "your session has ended; sign in again")
		}
		return nil, err
	}
	if isWrite(r.Method) {
		sent := r.Header.Get("X-CSRF-Token")
		if sent == "" {
			sent = r.PostFormValue("csrf")
		}
		if subtle.ConstantTimeCompare([]byte(sent), []byte(se.CSRFToken)) != 1 {
			return nil, errStatus(http.StatusForbidden, "csrf", "the form has expired or did not come from this site; reload the page and try again")
		}
	}
	ctx = context.WithValue(ctx, userKey, u)
	ctx = context.WithValue(ctx, sessionKey, &sessionInfo{hash: hash, csrf: se.CSRFToken})
	return r.WithContext(ctx), nil
}

func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, k kind, err error) {
	he := classify(err)
	w.Header().Set("X-Error-Code", he.code)
	if he.status >= 500 && he.status != 499 {
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	if k == api || strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSON(w, he.status, map[string]any{"error": map[string]string{"code": he.code, "message": he.message}})
		return
	}
	if he.status == http.StatusUnauthorized {
		if r.Header.Get("HX-Request") == "true" {
			w.Header().Set("HX-Redirect", "/login")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// Only a page to look at comes back after sign-in, and only one of ours.
		to := "/login"
		if next := r.URL.RequestURI(); r.Method == http.MethodGet && localPath(next) {
			to += "?next=" + url.QueryEscape(next)
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	w.WriteHeader(he.status)
	s.render(w, r, "error", map[string]any{"Status": he.status, "Message": he.message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// readJSON decodes a JSON body of at most max bytes, refusing unknown fields.
func readJSON(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, max)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return errStatus(http.StatusRequestEntityTooLarge, "too_large", "the body is larger than %d bytes", max)
		case errors.As(err, &te):
			return badRequest("field %s: want %s", te.Field, te.Type)
		case errors.As(err, &se):
			return badRequest("the body is not valid JSON (at byte %d)", se.Offset)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return badRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return badRequest("the body is not valid JSON")
	}
	if dec.More() {
		return badRequest("the body holds more than one JSON value")
	}
	if f := firstBadText(v); f != "" {
		return badRequest("%s: must be UTF-8 text without NUL bytes", f)
	}
	return nil
}

// clientAddr is the address a request came from, for rate limiting. The
// connection's peer is the client, unless it is one of the trusted proxies
// (Options.TrustedProxies). Then X-Forwarded-For is read from the right:
// each trusted proxy appended the address it saw, so the first hop that is
// not a trusted proxy is the client. Hops to its left were written by the
// client and are never read. A hop that is no address stops the walk at the
// last trusted one, which no client can choose.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer, ok := parseHop(r.RemoteAddr)
	if !ok || !contains(trusted, peer) {
		return peer // unparsable only for a handler called without a network
	}
	client := peer
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = a
		if !contains(trusted, a) {
			break
		}
	}
	return client
}

// parseHop reads an address as a proxy writes it: bare, or with a port.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// limitKey is the part of a client address that rate limits count: the
// address itself for IPv4, its /64 for IPv6, since one host is usually given
// a whole /64 and could otherwise take a fresh address for every attempt.
func limitKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	if a = a.Unmap(); a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
