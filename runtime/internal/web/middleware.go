package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
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
	hash      []byte
	csrf      string
	noticeKey []byte // seals this session's notices (notice.go)
	hasNotice bool
}

func (s *Server) wrap(rt route, maxBody int64) http.Handler {
	k, min, h := rt.kind, rt.min, rt.h
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				s.Log.Error("handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(v))
				s.writeError(w, r, k, &httpError{status: http.StatusInternalServerError, code: "internal", message: "something went wrong on our side"})
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
	ctx = context.WithValue(ctx, sessionKey, &sessionInfo{hash: hash, csrf: se.CSRFToken,
		noticeKey: noticeKey(c.Value), hasNotice: se.HasNotice})
	return r.WithContext(ctx), nil
}

func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
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

// contains says whether a is in any of prefixes.
func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
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
