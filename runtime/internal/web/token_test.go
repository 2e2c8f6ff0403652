package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

var shownToken = regexp.MustCompile(`value="(sbt_[A-Za-z0-9_-]+)"`)

type tokenOut struct {
	ID        int64      `json:"id"`
	Token     string     `json:"token"`
	Name      string     `json:"name"`
	Scope     string     `json:"scope"`
	ExpiresAt *time.Time `json:"expiresAt"`
	Expired   bool       `json:"expired"`
}

// createToken makes a token with the settings form and returns it.
func (f *fixture) createToken(role auth.Role, kv ...string) string {
	f.t.Helper()
	if len(kv) == 0 || kv[0] != "name" {
		kv = append([]string{"name", "from the form"}, kv...)
	}
	resp := f.send(http.MethodPost, "/settings/tokens", form(f.csrf[role], kv...), f.sessions[role], "", "")
	if resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("creating a token %v: %d, want 303", kv, resp.StatusCode)
	}
	// Post-redirect-get: the next page shows the token, once.
	page := f.send(http.MethodGet, resp.Header.Get("Location"), "", f.sessions[role], "", "")
	b, _ := io.ReadAll(page.Body)
	m := shownToken.FindSubmatch(b)
	if m == nil {
		f.t.Fatalf("creating a token %v: the next page shows no token", kv)
	}
	return string(m[1])
}

// TestReadOnlyTokens: a read-only token reads and writes nothing, on every
// API route that is not a GET.
func TestReadOnlyTokens(t *testing.T) {
	f := newFixture(t)
	ro := f.createToken(auth.Owner, "scope", "read-only")
	if r := f.send(http.MethodGet, "/api/v1/me", "", nil, "", ro); r.StatusCode != http.StatusOK {
		t.Fatalf("read-only GET: %d", r.StatusCode)
	}
	for _, rt := range f.srv.table() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		if rt.kind != api || method == http.MethodGet {
			continue
		}
		path = pathParam.ReplaceAllString(path, fmt.Sprint(f.convID))
		r := f.send(method, path, "{}", nil, "", ro)
		if code := errorCode(t, r); r.StatusCode != http.StatusForbidden || code != "read_only_token" {
			t.Errorf("read-only %s: %d %s, want 403 read_only_token", rt.pattern, r.StatusCode, code)
		}
	}
	if r := f.send(http.MethodHead, "/api/v1/me", "", nil, "", ro); r.StatusCode != http.StatusOK {
		t.Errorf("read-only HEAD: %d", r.StatusCode)
	}
	// The default is today's read-write.
	rw := f.createToken(auth.Owner)
	if r := f.send(http.MethodPost, "/api/v1/contacts", `{"name":"Grace"}`, nil, "", rw); r.StatusCode != http.StatusCreated {
		t.Errorf("read-write POST: %d", r.StatusCode)
	}
}

func TestTokenScopeIsValidated(t *testing.T) {
	f := newFixture(t)
	resp := f.send(http.MethodPost, "/settings/tokens", form(f.csrf[auth.Owner], "name", "x", "scope", "admin"), f.sessions[auth.Owner], "", "")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("scope admin: %d, want 400", resp.StatusCode)
	}
}

// TestTokenExpiry: tokens may expire, from the form or the API; an expired
// token is refused and shown as expired.
func TestTokenExpiry(t *testing.T) {
	f := newFixture(t)
	day := 24 * time.Hour
	list := func(role auth.Role) map[string]tokenOut {
		r := f.api(role, http.MethodGet, "/api/v1/tokens", "")
		var out struct{ Tokens []tokenOut }
		if err := json.NewDecoder(r.Body).Decode(&out); err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("listing tokens: %d %v", r.StatusCode, err)
		}
		m := map[string]tokenOut{}
		for _, tok := range out.Tokens {
			m[tok.Name] = tok
		}
		return m
	}
	// From the form: none, 30, 90, 365 days or a date.
	for _, tt := range []struct {
		kv   []string
		want time.Duration
	}{
		{[]string{"name", "never", "expires", "never"}, 0},
		{[]string{"name", "d30", "expires", "30"}, 30 * day},
		{[]string{"name", "d90", "expires", "90"}, 90 * day},
		{[]string{"name", "d365", "expires", "365"}, 365 * day},
		{[]string{"name", "date", "expires", "date", "expires_on", time.Now().UTC().Add(10 * day).Format(time.DateOnly)}, 10 * day},
	} {
		f.createToken(auth.Agent, tt.kv...)
		got := list(auth.Agent)[tt.kv[1]]
		switch {
		case tt.want == 0 && got.ExpiresAt != nil:
			t.Errorf("%s: expires %v, want never", tt.kv[1], got.ExpiresAt)
		case tt.want != 0 && (got.ExpiresAt == nil || got.ExpiresAt.Sub(time.Now().Add(tt.want)).Abs() > day):
			t.Errorf("%s: expires %v, want in %v", tt.kv[1], got.ExpiresAt, tt.want)
		}
	}
	for _, kv := range [][]string{{"expires", "7"}, {"expires", "date", "expires_on", "2001-01-01"}, {"expires", "date", "expires_on", "tomorrow"}, {"expires", "date"}} {
		resp := f.send(http.MethodPost, "/settings/tokens", form(f.csrf[auth.Agent], append([]string{"name", "bad"}, kv...)...), f.sessions[auth.Agent], "", "")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("form %v: %d, want 400", kv, resp.StatusCode)
		}
	}

	// From the API: expiresInDays or expiresAt, not both.
	create := func(bearer, body string) (*http.Response, tokenOut) {
		r := f.send(http.MethodPost, "/api/v1/tokens", body, nil, "", bearer)
		var out tokenOut
		if r.StatusCode == http.StatusCreated {
			if err := json.NewDecoder(r.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
		}
		return r, out
	}
	r, short := create(f.tokens[auth.Viewer], `{"name":"ci","expiresInDays":30,"scope":"read-only"}`)
	if r.StatusCode != http.StatusCreated || !strings.HasPrefix(short.Token, "sbt_") || short.Scope != "read-only" || short.ExpiresAt == nil {
		t.Fatalf("API create: %d %+v", r.StatusCode, short)
	}
	at := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	r, exact := create(f.tokens[auth.Viewer], fmt.Sprintf(`{"name":"exact","expiresAt":%q}`, at.Format(time.RFC3339)))
	if r.StatusCode != http.StatusCreated || exact.ExpiresAt == nil || !exact.ExpiresAt.Equal(at) || exact.Scope != "read-write" {
		t.Fatalf("API create with expiresAt: %d %+v", r.StatusCode, exact)
	}
	for _, body := range []string{
		`{"name":"x","expiresInDays":30,"expiresAt":"2099-01-01T00:00:00Z"}`,
		`{"name":"x","expiresInDays":0}`,
		`{"name":"x","expiresInDays":-1}`,
		`{"name":"x","expiresInDays":100000}`,
		`{"name":"x","expiresAt":"2001-01-01T00:00:00Z"}`,
		`{"name":"x","scope":"everything"}`,
		`{"name":""}`,
	} {
		if r, _ := create(f.tokens[auth.Viewer], body); r.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", body, r.StatusCode)
		}
	}
	// A token cannot make one that outlives it.
	if r, _ := create(exact.Token, `{"name":"forever"}`); r.StatusCode != http.StatusForbidden {
		t.Errorf("a 2-day token making an endless one: %d, want 403", r.StatusCode)
	}
	if r, _ := create(exact.Token, `{"name":"longer","expiresInDays":30}`); r.StatusCode != http.StatusForbidden {
		t.Errorf("a 2-day token making a 30-day one: %d, want 403", r.StatusCode)
	}
	if r, _ := create(exact.Token, `{"name":"shorter","expiresInDays":1}`); r.StatusCode != http.StatusCreated {
		t.Errorf("a 2-day token making a 1-day one: %d, want 201", r.StatusCode)
	}
	// The cookie API needs its CSRF header.
	if r := f.send(http.MethodPost, "/api/v1/tokens", `{"name":"csrf"}`, f.sessions[auth.Viewer], "", ""); r.StatusCode != http.StatusForbidden {
		t.Errorf("cookie without CSRF header: %d, want 403", r.StatusCode)
	}
	if r := f.send(http.MethodPost, "/settings/tokens", form("", "name", "csrf"), f.sessions[auth.Viewer], "", ""); r.StatusCode != http.StatusForbidden {
		t.Errorf("form without CSRF: %d, want 403", r.StatusCode)
	}

	// Expired: refused with 401, listed as expired.
	if _, err := f.st.Pool.Exec(bg, `UPDATE api_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1`, short.ID); err != nil {
		t.Fatal(err)
	}
	r = f.send(http.MethodGet, "/api/v1/me", "", nil, "", short.Token)
	if code := errorCode(t, r); r.StatusCode != http.StatusUnauthorized || code != "token_expired" {
		t.Errorf("expired token: %d %s, want 401 token_expired", r.StatusCode, code)
	}
	if got := list(auth.Viewer)["ci"]; !got.Expired {
		t.Errorf("the API lists the expired token as %+v", got)
	}
	page := f.send(http.MethodGet, "/settings/api", "", f.sessions[auth.Viewer], "", "")
	b, _ := io.ReadAll(page.Body)
	if !regexp.MustCompile(`(?s)<li[^>]*>\s*<code>` + regexp.QuoteMeta(short.Token[:8]) + `…</code>[^<]*ci.{0,400}expired`).Match(b) {
		t.Errorf("the settings page does not show the token as expired:\n%s", b)
	}

	// Revoking by the API.
	if r := f.send(http.MethodDelete, fmt.Sprintf("/api/v1/tokens/%d", exact.ID), "", nil, "", f.tokens[auth.Viewer]); r.StatusCode != http.StatusNoContent {
		t.Errorf("revoke: %d", r.StatusCode)
	}
	if r := f.send(http.MethodGet, "/api/v1/me", "", nil, "", exact.Token); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", r.StatusCode)
	}
	if r := f.send(http.MethodDelete, fmt.Sprintf("/api/v1/tokens/%d", list(auth.Agent)["d30"].ID), "", nil, "", f.tokens[auth.Viewer]); r.StatusCode != http.StatusNotFound {
		t.Errorf("revoking another member's token: %d, want 404", r.StatusCode)
	}
}
