package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// member is a user with a session and an API token, made for one test.
type member struct {
	f      *fixture
	user   *store.User
	cookie *http.Cookie
	csrf   string
	token  string
}

func (f *fixture) newMember(email, password string, mustChange bool) *member {
	f.t.Helper()
	hash, _ := auth.HashPassword(password)
	u, err := f.st.CreateUser(bg, f.st.Pool, &store.User{Email: email, Name: "Member", Role: string(auth.Admin), PasswordHash: hash, MustChangePassword: mustChange})
	if err != nil {
		f.t.Fatal(err)
	}
	m := &member{f: f, user: u}
	m.cookie, m.csrf = m.session()
	api, ah := auth.NewToken("sbt_")
	if _, err := f.st.CreateAPIToken(bg, f.st.Pool, u.ID, "test", api[:8], ah, store.ReadWrite, nil); err != nil {
		f.t.Fatal(err)
	}
	m.token = api
	return m
}

// session signs the member in once more, as another browser would.
func (m *member) session() (*http.Cookie, string) {
	token, th := auth.NewToken("")
	csrf, _ := auth.NewToken("")
	if err := m.f.st.CreateSession(bg, m.f.st.Pool, th, m.user.ID, csrf, time.Now().Add(time.Hour)); err != nil {
		m.f.t.Fatal(err)
	}
	return &http.Cookie{Name: sessionCookie, Value: token}, csrf
}

// send makes a request; cookie and bearer are each optional. Writes with a
// cookie carry csrf as a form field (forms) or header (JSON).
func (f *fixture) send(method, path, body string, cookie *http.Cookie, csrf, bearer string) *http.Response {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	if strings.HasPrefix(path, "/api/") {
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
	} else if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := noRedirect().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func form(csrf string, kv ...string) string {
	v := url.Values{}
	if csrf != "" {
		v.Set("csrf", csrf)
	}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func errorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	var out struct {
		Error struct{ Code, Message string }
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%d: not a JSON error: %s", resp.StatusCode, b)
	}
	return out.Error.Code
}

// TestMustChangePasswordOnEveryRoute: a member signed in with a one-time
// password reaches nothing but the password change and sign-out, by page,
// by the API with the session cookie, or by an API token.
func TestMustChangePasswordOnEveryRoute(t *testing.T) {
	f := newFixture(t)
	m := f.newMember("boss@acme.example", "one-time-password", true)
	reachable := map[string]bool{"GET /password": true, "POST /password": true, "POST /logout": true, "POST /api/v1/me/password": true}
	for _, rt := range f.srv.table() {
		if rt.kind == public || reachable[rt.pattern] {
			continue
		}
		method, path, _ := strings.Cut(rt.pattern, " ")
		path = pathParam.ReplaceAllString(strings.ReplaceAll(path, "{$}", ""), fmt.Sprint(f.convID))
		if rt.kind == page {
			resp := f.send(method, path, form(m.csrf), m.cookie, "", "")
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/password" {
				t.Errorf("page %s: %d %q, want a redirect to /password", rt.pattern, resp.StatusCode, resp.Header.Get("Location"))
			}
			continue
		}
		for _, how := range []string{"session cookie", "API token"} {
			var resp *http.Response
			if how == "API token" {
				resp = f.send(method, path, "{}", nil, "", m.token)
			} else {
				resp = f.send(method, path, "{}", m.cookie, m.csrf, "")
			}
			if code := errorCode(t, resp); resp.StatusCode != http.StatusForbidden || code != "password_change_required" {
				t.Errorf("API %s with the %s: %d %s, want 403 password_change_required", rt.pattern, how, resp.StatusCode, code)
			}
		}
	}
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/inbox?fragment=list", nil)
	req.Header.Set("HX-Request", "true")
	req.AddCookie(m.cookie)
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("HX-Redirect") != "/password" {
		t.Errorf("an htmx fragment: %v, want HX-Redirect: /password", resp.Header)
	}
	if resp := f.send(http.MethodGet, "/password", "", m.cookie, "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /password: %d", resp.StatusCode)
	}
	if resp := f.send(http.MethodGet, "/static/app.css", "", m.cookie, "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("static assets: %d", resp.StatusCode)
	}
	// The change itself is reachable by the API too, and lifts the block.
	resp = f.send(http.MethodPost, "/api/v1/me/password", `{"current":"one-time-password","new":"a-new-password-1"}`, m.cookie, m.csrf, "")
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("API password change: %d %s", resp.StatusCode, b)
	}
	if r := f.send(http.MethodGet, "/api/v1/me", "", nil, "", m.token); r.StatusCode != http.StatusOK {
		t.Errorf("the token after the change: %d", r.StatusCode)
	}
	// Sign-out stays reachable for a member who must change the password.
	n := f.newMember("boss2@acme.example", "one-time-password", true)
	if r := f.send(http.MethodPost, "/logout", form(n.csrf), n.cookie, "", ""); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Errorf("logout: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

func newSessionCookie(t *testing.T, resp *http.Response, old *http.Cookie) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			if c.Value == old.Value {
				t.Fatal("the new session cookie is the old one")
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("cookie flags: %+v", c)
			}
			return &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	t.Fatalf("no new session cookie (%d)", resp.StatusCode)
	return nil
}

func signedIn(f *fixture, c *http.Cookie) bool {
	resp := f.send(http.MethodGet, "/inbox", "", c, "", "")
	return resp.StatusCode == http.StatusOK
}

func auditCount(t *testing.T, f *fixture, action string, userID int64) int {
	t.Helper()
	var n int
	if err := f.st.Pool.QueryRow(bg, `SELECT count(*) FROM audit_log WHERE action = $1 AND actor_id = $2`, action, userID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPasswordChangeRotatesSessions: changing the password ends every
// session of the member, the current one included, and signs this browser in
// afresh; API tokens stay unless the member asks to revoke them.
func TestPasswordChangeRotatesSessions(t *testing.T) {
	f := newFixture(t)
	m := f.newMember("m1@acme.example", "old-password-1", false)
	other, _ := m.session()
	resp := f.send(http.MethodPost, "/password", form(m.csrf, "current", "old-password-1", "new", "new-password-1", "confirm", "new-password-1"), m.cookie, "", "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %d", resp.StatusCode)
	}
	fresh := newSessionCookie(t, resp, m.cookie)
	if signedIn(f, m.cookie) || signedIn(f, other) {
		t.Error("a session from before the change still works")
	}
	if !signedIn(f, fresh) {
		t.Error("the new session does not work")
	}
	if r := f.send(http.MethodGet, "/api/v1/me", "", nil, "", m.token); r.StatusCode != http.StatusOK {
		t.Errorf("the API token was kept, but: %d", r.StatusCode)
	}
	if auditCount(t, f, "password.changed", m.user.ID) != 1 || auditCount(t, f, "api_tokens.revoked", m.user.ID) != 0 {
		t.Error("audit: want password.changed and no api_tokens.revoked")
	}

	// With the box ticked, the member's tokens are revoked, and nobody else's.
	n := f.newMember("m2@acme.example", "old-password-2", false)
	second, sh := auth.NewToken("sbt_")
	if _, err := f.st.CreateAPIToken(bg, f.st.Pool, n.user.ID, "second", second[:8], sh, store.ReadOnly, nil); err != nil {
		t.Fatal(err)
	}
	resp = f.send(http.MethodPost, "/password", form(n.csrf, "current", "old-password-2", "new", "new-password-2", "confirm", "new-password-2", "revoke_tokens", "on"), n.cookie, "", "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change with revoke: %d", resp.StatusCode)
	}
	for _, tok := range []string{n.token, second} {
		if r := f.send(http.MethodGet, "/api/v1/me", "", nil, "", tok); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("a revoked token: %d, want 401", r.StatusCode)
		}
	}
	if r := f.send(http.MethodGet, "/api/v1/me", "", nil, "", m.token); r.StatusCode != http.StatusOK {
		t.Errorf("another member's token: %d", r.StatusCode)
	}
	if auditCount(t, f, "api_tokens.revoked", n.user.ID) != 1 {
		t.Error("audit: no api_tokens.revoked")
	}
	// The form offers the choice.
	page := f.send(http.MethodGet, "/password", "", newSessionCookie(t, resp, n.cookie), "", "")
	if b, _ := io.ReadAll(page.Body); !strings.Contains(string(b), `name="revoke_tokens"`) {
		t.Error("the password form has no revoke_tokens box")
	}

	// A wrong current password changes nothing.
	o := f.newMember("m3@acme.example", "old-password-3", false)
	resp = f.send(http.MethodPost, "/password", form(o.csrf, "current", "wrong-password", "new", "new-password-3", "confirm", "new-password-3"), o.cookie, "", "")
	if resp.StatusCode != http.StatusBadRequest || !signedIn(f, o.cookie) {
		t.Errorf("wrong current password: %d", resp.StatusCode)
	}
	// And the form needs its CSRF token.
	resp = f.send(http.MethodPost, "/password", form("", "current", "old-password-3", "new", "new-password-3", "confirm", "new-password-3"), o.cookie, "", "")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("without CSRF: %d, want 403", resp.StatusCode)
	}
}

// TestPasswordChangeByAPI: the same through POST /api/v1/me/password, with
// the session cookie (which is rotated) or an API token.
func TestPasswordChangeByAPI(t *testing.T) {
	f := newFixture(t)
	m := f.newMember("a1@acme.example", "old-password-1", false)
	other, _ := m.session()
	body := `{"current":"old-password-1","new":"new-password-1","revokeTokens":true}`
	if r := f.send(http.MethodPost, "/api/v1/me/password", body, m.cookie, "", ""); r.StatusCode != http.StatusForbidden {
		t.Fatalf("cookie without CSRF header: %d, want 403", r.StatusCode)
	}
	resp := f.send(http.MethodPost, "/api/v1/me/password", body, m.cookie, m.csrf, "")
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("change: %d %s", resp.StatusCode, b)
	}
	var out struct {
		TokensRevoked int `json:"tokensRevoked"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.TokensRevoked != 1 {
		t.Errorf("tokensRevoked = %d, %v; want 1", out.TokensRevoked, err)
	}
	fresh := newSessionCookie(t, resp, m.cookie)
	if signedIn(f, m.cookie) || signedIn(f, other) || !signedIn(f, fresh) {
		t.Error("sessions: want only the new one")
	}
	if r := f.send(http.MethodGet, "/api/v1/me", "", nil, "", m.token); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", r.StatusCode)
	}

	// With an API token: every session ends, the token stays unless revoked.
	n := f.newMember("a2@acme.example", "old-password-2", false)
	resp = f.send(http.MethodPost, "/api/v1/me/password", `{"current":"old-password-2","new":"new-password-2"}`, nil, "", n.token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("change by token: %d", resp.StatusCode)
	}
	if signedIn(f, n.cookie) {
		t.Error("a session survived a change by token")
	}
	if r := f.send(http.MethodGet, "/api/v1/me", "", nil, "", n.token); r.StatusCode != http.StatusOK {
		t.Errorf("kept token: %d", r.StatusCode)
	}
	for _, tt := range []struct{ body, code string }{
		{`{"current":"wrong-password","new":"new-password-9"}`, "wrong_password"},
		{`{"current":"new-password-2","new":"short"}`, "weak_password"},
		{`{"current":"new-password-2","new":"new-password-2"}`, "invalid"},
		{`{"new":"new-password-9"}`, "invalid"},
	} {
		r := f.send(http.MethodPost, "/api/v1/me/password", tt.body, nil, "", n.token)
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"`+tt.code+`"`) {
			t.Errorf("%s: %d %s, want 400 %s", tt.body, r.StatusCode, b, tt.code)
		}
		if strings.Contains(string(b), "password-") {
			t.Errorf("the answer repeats a password: %s", b)
		}
	}
}

// TestPasswordChangeGuessesAreLimited: a stolen session cannot guess the
// current password at leisure.
func TestPasswordChangeGuessesAreLimited(t *testing.T) {
	f := newFixture(t)
	m := f.newMember("g1@acme.example", "old-password-1", false)
	for i := 0; i < 5; i++ {
		resp := f.send(http.MethodPost, "/password", form(m.csrf, "current", fmt.Sprint("guess-", i), "new", "new-password-1", "confirm", "new-password-1"), m.cookie, "", "")
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	resp := f.send(http.MethodPost, "/password", form(m.csrf, "current", "old-password-1", "new", "new-password-1", "confirm", "new-password-1"), m.cookie, "", "")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 5 wrong guesses: %d, want 429", resp.StatusCode)
	}
	r := f.send(http.MethodPost, "/api/v1/me/password", `{"current":"old-password-1","new":"new-password-1"}`, nil, "", m.token)
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the same through the API: %d, want 429", r.StatusCode)
	}
}
