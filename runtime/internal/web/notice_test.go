package web

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

func TestNoticeSealing(t *testing.T) {
	k := noticeKey("session-token")
	sealed, err := sealNotice(k, notice{Text: "Token created.", Secret: "sbt_secret"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("sbt_secret")) || bytes.Contains(sealed, []byte("Token created")) {
		t.Fatal("the sealed notice holds its text in the clear")
	}
	n, err := openNotice(k, sealed)
	if err != nil || n.Secret != "sbt_secret" || n.Text != "Token created." {
		t.Fatalf("open: %+v %v", n, err)
	}
	if _, err := openNotice(noticeKey("another-session"), sealed); err == nil {
		t.Fatal("another session's key opened the notice")
	}
	if _, err := openNotice(k, sealed[:5]); err == nil {
		t.Fatal("a truncated notice opened")
	}
}

// body reads a response's body.
func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A change's notice and a one-time secret travel in the session: post,
// redirect, and the next page shows them once. The URL carries nothing, the
// database holds them sealed, and query parameters cannot forge one.
func TestPostRedirectGetWithNotices(t *testing.T) {
	f := newFixture(t)
	resp := f.do(auth.Owner, http.MethodPost, "/settings/tokens", url.Values{"name": {"ci"}, "scope": {"read-only"}}, false)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings/api" {
		t.Fatalf("token create: %d %q, want 303 to /settings/api", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sealed []byte
	if err := f.st.Pool.QueryRow(bg, `SELECT notice FROM sessions WHERE user_id = $1 AND notice IS NOT NULL`, f.users[auth.Owner].ID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("sbt_")) || bytes.Contains(sealed, []byte("Token created")) {
		t.Fatal("the notice is stored in the clear")
	}
	page := body(t, f.do(auth.Owner, http.MethodGet, "/settings/api", nil, false))
	if !strings.Contains(page, "Token created.") || !strings.Contains(page, `value="sbt_`) {
		t.Fatalf("the settings page after the post shows no notice and token:\n%s", page)
	}
	again := body(t, f.do(auth.Owner, http.MethodGet, "/settings/api", nil, false))
	if strings.Contains(again, "Token created.") || strings.Contains(again, `value="sbt_`) {
		t.Fatal("the notice and the token were shown twice")
	}
	for _, q := range []string{"?flash=Your+session+expired", "?done=token-revoked", "?notice=Your+session+expired"} {
		p := body(t, f.do(auth.Owner, http.MethodGet, "/settings/api"+q, nil, false))
		if strings.Contains(p, "session expired") || strings.Contains(p, "Token revoked.") || strings.Contains(p, `data-testid="notice"`) {
			t.Fatalf("/settings%s shows a notice", q)
		}
	}
}

// The app's script submits forms with fetch: a refused field comes back as
// JSON naming it, and a success as the address to go to.
func TestFormErrorsNameTheField(t *testing.T) {
	f := newFixture(t)
	post := func(path string, form url.Values) (*http.Response, map[string]map[string]string) {
		form.Set("csrf", f.csrf[auth.Owner])
		req, _ := http.NewRequest(http.MethodPost, f.ts.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Switchboard-Form", "1")
		req.AddCookie(f.sessions[auth.Owner])
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp, out
	}
	resp, out := post("/settings/teams", url.Values{"name": {""}})
	if resp.StatusCode != http.StatusBadRequest || out["error"]["field"] != "name" || out["error"]["code"] != "invalid" {
		t.Fatalf("an empty team name: %d %v, want 400 naming field name", resp.StatusCode, out)
	}
	resp, _ = post("/settings/teams", url.Values{"name": {"Billing"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a good team: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/settings/teams", strings.NewReader(url.Values{"name": {"Support"}, "csrf": {f.csrf[auth.Owner]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Switchboard-Form", "1")
	req.AddCookie(f.sessions[auth.Owner])
	r2, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ok map[string]string
	_ = json.NewDecoder(r2.Body).Decode(&ok)
	r2.Body.Close()
	if ok["redirect"] != "/settings/team" {
		t.Fatalf("a good team answers %v, want the redirect to /settings", ok)
	}
}
