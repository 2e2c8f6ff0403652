package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// oauthCallback completes a connection: GET /oauth/microsoft/callback,
// where the provider sends the admin's browser back with code and state
// (or error and error_description). The state must be one this member
// started from this session, unused and recent; its verifier then redeems
// the code. What failed is shown on the settings page, without secrets.
func (s *Server) oauthCallback(w http.ResponseWriter, r *http.Request) error {
	if s.OAuth == nil {
		return errStatus(http.StatusNotFound, "not_found", "this runtime does not connect accounts")
	}
	q := r.URL.Query()
	u := currentUser(r)
	c, err := s.OAuth.Take(r.Context(), q.Get("state"), currentSession(r).hash, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusBadRequest, "invalid_state",
			"this sign-in is not one you started from this browser session, or it is more than 10 minutes old, or it was used already; start again from Settings")
	}
	if err != nil {
		return err
	}
	fail := func(status int, format string, args ...any) error {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		return s.renderSettings(w, r, "Connecting “"+c.Integration+"” failed: "+fmt.Sprintf(format, args...), "", "")
	}
	if e := q.Get("error"); e != "" {
		// The provider's own words: the user declined, or consent needs an
		// administrator. They come through the browser, so they are cut
		// to printable text and shown as its words only.
		return fail(http.StatusBadGateway, "Microsoft said %s: %s", clip(e, 64), clip(firstLine(q.Get("error_description")), 300))
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		return fail(http.StatusBadRequest, "Microsoft sent no authorization code back.")
	}
	conn, err := s.connector(c.Integration)
	if err != nil {
		return fail(http.StatusConflict, "%s", classify(err).message)
	}
	if _, err := conn.Connect(r.Context(), code, c.CodeVerifier, c.RedirectURI); err != nil {
		s.Log.Warn("connecting an integration failed", "integration", c.Integration, "error", err.Error())
		return fail(http.StatusBadGateway, "%s", err.Error())
	}
	if err := s.OAuth.Connected(r.Context(), u.ID, c); err != nil {
		return err
	}
	s.Log.Info("integration connected", "integration", c.Integration, "by", u.ID)
	return settingsRedirect(w, r, "integration-connected")
}

// firstLine is s up to its first line break (Microsoft's descriptions
// continue with trace and correlation ids).
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// clip keeps at most n bytes of s's printable characters.
func clip(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= n {
			b.WriteString("…")
			break
		}
		if r >= 0x20 && r != 0x7f && r != 0xfffd {
			b.WriteRune(r)
		}
	}
	return b.String()
}
