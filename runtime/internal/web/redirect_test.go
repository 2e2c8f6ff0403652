package web

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

// offSite are redirect targets that leave the site, or that some browser or
// proxy could turn into one: protocol-relative URLs, backslashes (read as
// slashes), tabs and newlines (dropped by browsers), the same once
// percent-decoded, schemes, leading spaces and Unicode look-alikes of the
// slash and the backslash.
var offSite = []string{
	"",
	"inbox",
	"//evil.example",
	"///evil.example",
	"//user@evil.example/inbox",
	"/\\evil.example",
	"/\\/evil.example",
	"\\/evil.example",
	"\\\\evil.example",
	"/\t/evil.example",
	"/\n/evil.example",
	"/\r\n/evil.example",
	"/\x00/evil.example",
	"/\x7f/evil.example",
	"/%09/evil.example",
	"/%0a/evil.example",
	"/%0D%0A/evil.example",
	"/%00/evil.example",
	"/%2F/evil.example",
	"/%2f%2fevil.example",
	"/%5C/evil.example",
	"/%5c%5cevil.example",
	"/%EF%BC%8F/evil.example",
	"https://evil.example",
	"https:evil.example",
	"http:/evil.example",
	"javascript:alert(1)",
	"JaVaScRiPt:alert(1)",
	"data:text/html,<script>alert(1)</script>",
	" //evil.example",
	" /inbox",
	"\t//evil.example",
	"/\uFF0Fevil.example", // FULLWIDTH SOLIDUS
	"\uFF0F\uFF0Fevil.example",
	"/\u2215evil.example", // DIVISION SLASH
	"/\uFE68evil.example", // SMALL REVERSE SOLIDUS
	"/\u29F8evil.example", // BIG SOLIDUS
	"/\uFF3Cevil.example", // FULLWIDTH REVERSE SOLIDUS
	"/\u2044evil.example", // FRACTION SLASH
	"/inbox?q=\u00e9",     // raw non-ASCII: only percent-encoded is accepted
	"/\u3002evil.example", // IDEOGRAPHIC FULL STOP
}

// onSite are targets the app itself builds: they must survive.
var onSite = []string{
	"/",
	"/inbox",
	"/inbox/conversations/12",
	"/inbox?status=open&assignee=me",
	"/inbox?q=caf%C3%A9&status=all",
	"/contacts/5",
	"/pipeline?pipeline=1",
	"/contacts?q=a%2Fb",
}

func TestSafeNext(t *testing.T) {
	for _, next := range offSite {
		if got := safeNext(next); got != "/inbox" {
			t.Errorf("safeNext(%q) = %q, want /inbox", next, got)
		}
	}
	for _, next := range onSite {
		if got := safeNext(next); got != next {
			t.Errorf("safeNext(%q) = %q, want it kept", next, got)
		}
	}
}

var nextField = regexp.MustCompile(`name="next" value="([^"]*)"`)

// TestRedirectTargetsStayOnSite tries every off-site target at every place a
// redirect target comes from a request: the sign-in form (GET /login?next=),
// the sign-in itself (POST /login), the inbox's bulk action and the new-deal
// form (back=). Each falls back to /inbox; targets the app builds survive.
func TestRedirectTargetsStayOnSite(t *testing.T) {
	f := newFixture(t)
	var stage int64
	if err := f.st.Pool.QueryRow(bg, `SELECT id FROM pipeline_stages ORDER BY id LIMIT 1`).Scan(&stage); err != nil {
		t.Fatal(err)
	}
	// Each place answers with a status and the target it would go to. A
	// value that is not text (NUL) is refused at the door with a 400,
	// which is as good as a fallback.
	formNext := func(next string) (int, string) {
		t.Helper()
		resp, err := http.Get(f.ts.URL + "/login?next=" + url.QueryEscape(next))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := nextField.FindSubmatch(b)
		if m == nil {
			return resp.StatusCode, ""
		}
		return resp.StatusCode, html.UnescapeString(string(m[1]))
	}
	location := func(resp *http.Response) (int, string) { return resp.StatusCode, resp.Header.Get("Location") }
	signIn := func(next string) (int, string) {
		t.Helper()
		resp, err := noRedirect().PostForm(f.ts.URL+"/login", url.Values{"email": {"viewer@acme.example"}, "password": {"password-for-tests"}, "next": {next}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return location(resp)
	}
	bulk := func(next string) (int, string) {
		return location(f.do(auth.Agent, http.MethodPost, "/inbox/bulk", url.Values{"ids": {fmt.Sprint(f.convID)}, "action": {"open"}, "back": {next}}, false))
	}
	deal := func(next string) (int, string) {
		return location(f.do(auth.Agent, http.MethodPost, "/deals", url.Values{"title": {"Deal"}, "stage": {fmt.Sprint(stage)}, "back": {next}}, false))
	}
	places := []struct {
		name string
		ok   int // the status when the target is followed
		try  func(string) (int, string)
	}{{"sign-in form", http.StatusOK, formNext}, {"sign-in", http.StatusSeeOther, signIn}, {"inbox bulk action", http.StatusSeeOther, bulk}, {"new deal", http.StatusSeeOther, deal}}
	for _, p := range places {
		for _, next := range offSite {
			code, got := p.try(next)
			refusedAtDoor := code == http.StatusBadRequest && got == "" && strings.ContainsRune(next, 0)
			if !refusedAtDoor && (code != p.ok || got != "/inbox") {
				t.Errorf("%s with %q: %d, goes to %q; want %d and /inbox", p.name, next, code, got, p.ok)
			}
		}
		for _, next := range onSite {
			if code, got := p.try(next); code != p.ok || got != next {
				t.Errorf("%s with %q: %d, goes to %q; want %d and it kept", p.name, next, code, got, p.ok)
			}
		}
	}
}

// TestSignInRoundTrip: a signed-out visit to a page is sent to sign in with
// the page as next=, and signing in lands on it.
func TestSignInRoundTrip(t *testing.T) {
	f := newFixture(t)
	page := "/inbox?status=open&q=caf%C3%A9"
	resp := f.do("", http.MethodGet, page, nil, false)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
		t.Fatalf("signed out: %d %q", resp.StatusCode, loc)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	next := u.Query().Get("next")
	if next != page {
		t.Fatalf("next = %q, want %q", next, page)
	}
	r2, err := noRedirect().PostForm(f.ts.URL+"/login", url.Values{"email": {"agent@acme.example"}, "password": {"password-for-tests"}, "next": {next}})
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if got := r2.Header.Get("Location"); r2.StatusCode != http.StatusSeeOther || got != page {
		t.Fatalf("signed in: %d %q, want %q", r2.StatusCode, got, page)
	}
}

// FuzzSafeNext checks that whatever safeNext keeps stays on this site as a
// browser reads it: with tabs and newlines dropped, backslashes read as
// slashes, and the path percent-decoded.
func FuzzSafeNext(f *testing.F) {
	for _, s := range append(append([]string{}, offSite...), onSite...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got == "/inbox" {
			return
		}
		if got != next {
			t.Fatalf("safeNext(%q) = %q: want the input or /inbox", next, got)
		}
		browser := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(next)
		u, err := url.Parse(browser)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(u.Path, "//") || strings.Contains(u.Path, "\\") {
			t.Fatalf("safeNext kept %q, which a browser may read as %q (%v)", next, browser, err)
		}
		for _, r := range u.Path {
			if r < ' ' || r > '~' {
				t.Fatalf("safeNext kept %q, whose path decodes to %q", next, u.Path)
			}
		}
	})
}

// TestSettingsNoticeIsNotFromTheLink: the notice shown after a settings
// change is one of the app's own, never text from the link, which anyone
// could send a member ("Your account is locked: call …").
func TestSettingsNoticeIsNotFromTheLink(t *testing.T) {
	f := newFixture(t)
	for _, q := range []string{"flash", "done"} {
		resp := f.do(auth.Viewer, http.MethodGet, "/settings/profile?"+q+"="+url.QueryEscape("Your account is locked: call +1 555 0100"), nil, false)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || strings.Contains(string(b), "account is locked") {
			t.Errorf("?%s=: %d, and the page shows the link's text", q, resp.StatusCode)
		}
	}
	resp := f.do(auth.Admin, http.MethodPost, "/settings/teams", url.Values{"name": {"Support"}}, false)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || loc != "/settings/team" {
		t.Fatalf("team created: %d %q", resp.StatusCode, loc)
	}
	page := f.do(auth.Admin, http.MethodGet, loc, nil, false)
	if b, _ := io.ReadAll(page.Body); !strings.Contains(string(b), "Team created.") {
		t.Errorf("the notice after creating a team is missing")
	}
}

// TestSignInRedirectFromOddRequests sends raw request lines a browser would
// not, at pages that need a session: whatever comes back stays on this site,
// and a next= it carries is one safeNext keeps.
func TestSignInRedirectFromOddRequests(t *testing.T) {
	f := newFixture(t)
	host := strings.TrimPrefix(f.ts.URL, "http://")
	for _, target := range []string{
		"http://evil.example/inbox",
		"//evil.example/inbox",
		"/inbox/conversations/%2F%2Fevil.example",
		"/inbox/conversations/%5Cevil.example",
		"/inbox/conversations/%09",
		"/inbox?next=//evil.example",
		"/contacts/%EF%BC%8Fevil.example",
	} {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		resp.Body.Close()
		conn.Close()
		loc := resp.Header.Get("Location")
		if loc == "" {
			continue
		}
		if !localPath(loc) {
			t.Errorf("%s: redirected off-site to %q", target, loc)
			continue
		}
		u, _ := url.Parse(loc)
		if next := u.Query().Get("next"); u.Path == "/login" && next != "" && safeNext(next) != next {
			t.Errorf("%s: sent to sign in with next=%q, which safeNext refuses", target, next)
		}
	}
}
