package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	cb, err := readCallback(r.URL.Query())
	if err != nil {
		return err
	}
	u := currentUser(r)
	c, err := s.OAuth.Take(r.Context(), cb.State, currentSession(r).hash, u.ID)
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
		return s.renderChannels(w, r, "Connecting “"+c.Integration+"” failed: "+fmt.Sprintf(format, args...))
	}
	if cb.Error != "" {
		// The provider's own words (the user declined, consent needs an
		// administrator), shown as its words only.
		return fail(http.StatusBadGateway, "Microsoft said %s: %s", cb.Error, cb.Description)
	}
	conn, err := s.connector(c.Integration)
	if err != nil {
		return fail(http.StatusConflict, "%s", classify(err).message)
	}
	if _, err := conn.Connect(r.Context(), cb.Code, c.CodeVerifier, c.RedirectURI); err != nil {
		s.Log.Warn("connecting an integration failed", "integration", c.Integration, "error", err.Error())
		return fail(http.StatusBadGateway, "%s", err.Error())
	}
	if err := s.OAuth.Connected(r.Context(), u.ID, c); err != nil {
		return err
	}
	s.Log.Info("integration connected", "integration", c.Integration, "by", u.ID)
	return s.settingsRedirect(w, r, "integration-connected")
}

// callback is what the provider sent back to the callback.
type callback struct {
	State, Code string
	// Error and Description are the provider's refusal, as printable text
	// cut short: they come through the browser, so anyone could write them.
	Error, Description string
}

// Bounds of the callback's parameters.
const (
	maxCallbackState = 256
	maxCallbackCode  = 4096
)

// readCallback reads the callback's query. The state is required, and
// then either an error or a code. A parameter given twice is refused: which
// one counts would be a guess.
func readCallback(q url.Values) (callback, error) {
	for _, k := range []string{"state", "code", "error", "error_description"} {
		if len(q[k]) > 1 {
			return callback{}, badRequest("the sign-in came back with %s twice; start again from Settings", k)
		}
	}
	cb := callback{State: q.Get("state"), Code: q.Get("code")}
	if cb.State == "" || len(cb.State) > maxCallbackState || !urlSafe(cb.State) {
		return callback{}, errStatus(http.StatusBadRequest, "invalid_state", "the sign-in came back without a usable state; start again from Settings")
	}
	if e := q.Get("error"); e != "" {
		if cb.Error = clip(e, 64); cb.Error == "" {
			cb.Error = "an error" // nothing printable in it
		}
		cb.Description = clip(firstLine(q.Get("error_description")), 300)
		cb.Code = ""
		return cb, nil
	}
	if cb.Code == "" || len(cb.Code) > maxCallbackCode || !urlSafe(cb.Code) {
		return callback{}, badRequest("Microsoft sent no usable authorization code back; start again from Settings")
	}
	return cb, nil
}

// urlSafe says whether s is printable ASCII without spaces, as states and
// authorization codes are.
func urlSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
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
		if r >= 0x20 && r != 0x7f && r != 0xfffd && !(r >= 0x80 && r < 0xa0) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
