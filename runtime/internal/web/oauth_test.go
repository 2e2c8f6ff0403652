package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/emulators/microsofttest"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/audit"
	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/canned"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels/microsoft"
	"github.com/switchboard-dev/switchboard/runtime/internal/crm"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/integrations"
	"github.com/switchboard-dev/switchboard/runtime/internal/invite"
	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/oauth"
	"github.com/switchboard-dev/switchboard/runtime/internal/session"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
	"github.com/switchboard-dev/switchboard/runtime/internal/team"
	"github.com/switchboard-dev/switchboard/runtime/internal/token"
	"github.com/switchboard-dev/switchboard/runtime/internal/user"
)

// memTokenStore is a TokenStore with Vault's check-and-set.
type memTokenStore struct {
	mu      sync.Mutex
	data    map[string]string
	version int
}

func (m *memTokenStore) Read(context.Context) (map[string]string, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.data), m.version, nil
}

func (m *memTokenStore) Write(_ context.Context, data map[string]string, cas int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cas != m.version {
		return 0, adapter.ErrConflict
	}
	m.data, m.version = maps.Clone(data), m.version+1
	return m.version, nil
}

func (m *memTokenStore) get(k string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data[k]
}

// fakeIntegrations is the Manager as the web layer sees it: open adapters
// by name, with what they last reported.
type fakeIntegrations struct {
	mu       sync.Mutex
	adapters map[string]adapter.Adapter
	types    map[string]string
	health   map[string]integrations.Status
}

func (f *fakeIntegrations) report(name, typ string) func(state, code, message string) {
	return func(state, code, message string) {
		f.mu.Lock()
		f.health[name] = integrations.Status{Name: name, Type: typ, Key: contract.ChannelKey(typ, name), State: state, Code: code, Message: message}
		f.mu.Unlock()
	}
}

func (f *fakeIntegrations) Statuses() []integrations.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []integrations.Status
	for name, typ := range f.types {
		st, ok := f.health[name]
		if !ok {
			st = integrations.Status{Name: name, Type: typ, Key: contract.ChannelKey(typ, name)}
		}
		out = append(out, st)
	}
	return out
}

func (f *fakeIntegrations) Get(name string) (adapter.Adapter, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.adapters[name]
	return a, ok
}

func (f *fakeIntegrations) OfType(t string) []adapter.Adapter {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []adapter.Adapter
	for name, typ := range f.types {
		if typ == t {
			out = append(out, f.adapters[name])
		}
	}
	return out
}

// oauthFixture is a runtime with one microsoft Integration ("support")
// whose provider is the emulator, and a signed-in admin.
type oauthFixture struct {
	tb     testing.TB
	ts     *httptest.Server
	srv    *Server
	st     *store.Store
	idp    *microsofttest.Server
	tokens *memTokenStore
	ints   *fakeIntegrations
	mail   *microsoft.Adapter
	admin  *store.User
	cookie *http.Cookie
	hash   []byte
}

const publicURL = "http://acme.test"

func newOAuthFixture(tb testing.TB) *oauthFixture {
	tb.Helper()
	st := storetest.NewDB(tb)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := live.New(st.Pool, logger)
	api := &channels.API{Store: st, Client: channels.NewWebhookClient(true)}
	f := &oauthFixture{tb: tb, st: st, tokens: &memTokenStore{},
		idp:  microsofttest.New(microsofttest.Options{RedirectURIs: []string{publicURL + microsoft.CallbackPath}}),
		ints: &fakeIntegrations{adapters: map[string]adapter.Adapter{}, types: map[string]string{}, health: map[string]integrations.Status{}}}
	tb.Cleanup(f.idp.Close)
	a, err := microsoft.New(adapter.Deps{Name: "support", Key: "microsoft/support",
		Info: contract.ChannelInfo{Type: microsoft.Type, UID: "u1", CredentialsVersion: 1, Config: map[string]string{
			microsoft.ConfigTenant: f.idp.Tenant, microsoft.ConfigMailbox: "support@contoso.example", microsoft.ConfigAuthority: f.idp.URL}},
		Credentials: map[string]string{microsoft.CredClientID: f.idp.ClientID, microsoft.CredClientSecret: f.idp.ClientSecret},
		Tokens:      f.tokens, Log: logger, Report: f.ints.report("support", microsoft.Type)})
	if err != nil {
		tb.Fatal(err)
	}
	f.mail = a.(*microsoft.Adapter)
	tb.Cleanup(f.mail.Close)
	f.ints.adapters["support"], f.ints.types["support"] = f.mail, microsoft.Type
	f.srv, err = New(Options{Workspace: "acme", PublicURL: publicURL, Inbox: inbox.New(st, hub, api), Live: hub,
		CRM: &crm.Service{Store: st}, APIChannel: api, Users: user.New(st), Teams: team.New(st), Invites: invite.New(st),
		Tokens: token.New(st), Sessions: session.New(st), Canned: canned.New(st), Audit: audit.New(st),
		Log: logger, SessionTTL: time.Hour, Integrations: f.ints, OAuth: oauth.New(st)})
	if err != nil {
		tb.Fatal(err)
	}
	f.ts = httptest.NewServer(f.srv)
	tb.Cleanup(f.ts.Close)
	hash, _ := auth.HashPassword("password-for-tests")
	if f.admin, err = st.CreateUser(bg, st.Pool, &store.User{Email: "admin@acme.example", Name: "Ada Admin", Role: string(auth.Admin), PasswordHash: hash}); err != nil {
		tb.Fatal(err)
	}
	f.cookie, f.hash = f.session(f.admin.ID)
	return f
}

// session signs userID in and returns the cookie and its token's hash.
func (f *oauthFixture) session(userID int64) (*http.Cookie, []byte) {
	tok, th := auth.NewToken("")
	csrf, _ := auth.NewToken("")
	if err := f.st.CreateSession(bg, f.st.Pool, th, userID, csrf, time.Now().Add(time.Hour)); err != nil {
		f.tb.Fatal(err)
	}
	return &http.Cookie{Name: sessionCookie, Value: tok}, th
}

// get requests a path of the runtime with cookie, not following redirects.
func (f *oauthFixture) get(cookie *http.Cookie, path string) (*http.Response, string) {
	f.tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+path, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := noRedirect().Do(req)
	if err != nil {
		f.tb.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// start presses Connect and returns the authorize URL the browser is sent to.
func (f *oauthFixture) start(cookie *http.Cookie) *url.URL {
	f.tb.Helper()
	resp, _ := f.get(cookie, "/settings/integrations/support/connect")
	if resp.StatusCode != http.StatusSeeOther {
		f.tb.Fatalf("connect: %d", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		f.tb.Fatal(err)
	}
	return u
}

// callbackPath turns where the provider redirects to into a path of the
// test server (the public URL is not served).
func callbackPath(t testing.TB, back *url.URL) string {
	t.Helper()
	if back.Scheme+"://"+back.Host != publicURL || back.Path != microsoft.CallbackPath {
		t.Fatalf("the provider redirected to %s", back)
	}
	return back.Path + "?" + back.RawQuery
}

func TestOAuthConnect(t *testing.T) {
	f := newOAuthFixture(t)
	authorize := f.start(f.cookie)
	q := authorize.Query()
	if authorize.Host != strings.TrimPrefix(f.idp.URL, "http://") || q.Get("redirect_uri") != publicURL+microsoft.CallbackPath ||
		q.Get("code_challenge_method") != "S256" || q.Get("state") == "" || q.Get("client_id") != f.idp.ClientID {
		t.Fatalf("authorize URL %s", authorize)
	}
	// The state and the verifier stay on the server: the state by its hash
	// only, the verifier only as its challenge in the URL.
	var verifier string
	var stateHash []byte
	if err := f.st.Pool.QueryRow(bg, `SELECT code_verifier, state_hash FROM oauth_states`).Scan(&verifier, &stateHash); err != nil {
		t.Fatal(err)
	}
	if string(stateHash) != string(auth.HashToken(q.Get("state"))) || strings.Contains(authorize.String(), verifier) ||
		oauth.Challenge(verifier) != q.Get("code_challenge") || len(verifier) < 43 {
		t.Fatal("state or verifier are not kept as they should be")
	}

	back, err := f.idp.Authorize(authorize.String())
	if err != nil {
		t.Fatal(err)
	}
	path := callbackPath(t, back)
	resp, body := f.get(f.cookie, path)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings/channels" {
		t.Fatalf("callback: %d %s %.300s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	reqs := f.idp.TokenRequests()
	if len(reqs) != 1 || reqs[0].Form.Get("code_verifier") != verifier || reqs[0].Form.Get("redirect_uri") != publicURL+microsoft.CallbackPath {
		t.Fatalf("token requests %+v", reqs)
	}
	if valid := f.idp.ValidRefreshTokens(); len(valid) != 1 || f.tokens.get(contract.TokenRefresh) != valid[0] {
		t.Error("the tokens were not stored")
	}
	var used bool
	var left string
	if err := f.st.Pool.QueryRow(bg, `SELECT used_at IS NOT NULL, code_verifier FROM oauth_states`).Scan(&used, &left); err != nil || !used || left != "" {
		t.Errorf("the state is not spent: used %v, verifier left %v (%v)", used, left != "", err)
	}
	entries, err := f.st.AuditLog(bg, store.AuditFilter{Action: "integration.connected"})
	if err != nil || len(entries) != 1 || *entries[0].ActorID != f.admin.ID || entries[0].ObjectType != "oauth_state" {
		t.Errorf("audit %+v %v", entries, err)
	}

	_, page := f.get(f.cookie, "/settings/channels?done=integration-connected")
	for _, want := range []string{"Mailbox connected.", `data-testid="mailboxes"`, "support@contoso.example", `href="/settings/integrations/support/connect"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the settings page lacks %q", want)
		}
	}

	t.Run("a callback is taken once", func(t *testing.T) {
		resp, body := f.get(f.cookie, path)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Error-Code") != "invalid_state" {
			t.Errorf("replay: %d %s", resp.StatusCode, resp.Header.Get("X-Error-Code"))
		}
		if strings.Contains(body, back.Query().Get("code")) {
			t.Error("the page shows the code")
		}
		if n := len(f.idp.TokenRequests()); n != 1 {
			t.Errorf("the replay reached the token endpoint (%d requests)", n)
		}
	})
}

func TestOAuthStateBinding(t *testing.T) {
	f := newOAuthFixture(t)
	hash, _ := auth.HashPassword("password-for-tests")
	other, err := f.st.CreateUser(bg, f.st.Pool, &store.User{Email: "owner@acme.example", Name: "Olga", Role: string(auth.Owner), PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	otherCookie, _ := f.session(other.ID)
	sameUserOtherSession, _ := f.session(f.admin.ID)

	back, err := f.idp.Authorize(f.start(f.cookie).String())
	if err != nil {
		t.Fatal(err)
	}
	path := callbackPath(t, back)
	for name, c := range map[string]*http.Cookie{"another member": otherCookie, "another session of the same member": sameUserOtherSession} {
		resp, _ := f.get(c, path)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Error-Code") != "invalid_state" {
			t.Errorf("%s: %d %s", name, resp.StatusCode, resp.Header.Get("X-Error-Code"))
		}
	}
	if resp, _ := f.get(nil, path); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("signed out: %d", resp.StatusCode)
	}
	if len(f.idp.TokenRequests()) != 0 {
		t.Fatal("a refused callback redeemed the code")
	}
	// The attempts above left the state to its owner.
	if resp, body := f.get(f.cookie, path); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the owner's callback: %d %.300s", resp.StatusCode, body)
	}

	t.Run("a lapsed state", func(t *testing.T) {
		back, err := f.idp.Authorize(f.start(f.cookie).String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.Pool.Exec(bg, `UPDATE oauth_states SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`); err != nil {
			t.Fatal(err)
		}
		if resp, _ := f.get(f.cookie, callbackPath(t, back)); resp.Header.Get("X-Error-Code") != "invalid_state" {
			t.Errorf("lapsed: %d %s", resp.StatusCode, resp.Header.Get("X-Error-Code"))
		}
		f.start(f.cookie) // starting another removes lapsed states
		var n int
		if err := f.st.Pool.QueryRow(bg, `SELECT count(*) FROM oauth_states WHERE expires_at <= now() AND used_at IS NULL`).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d lapsed states left (%v)", n, err)
		}
	})
	t.Run("agents may not connect", func(t *testing.T) {
		agent, err := f.st.CreateUser(bg, f.st.Pool, &store.User{Email: "agent@acme.example", Name: "Al", Role: string(auth.Agent), PasswordHash: hash})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := f.session(agent.ID)
		for _, p := range []string{"/settings/integrations/support/connect", path} {
			if resp, _ := f.get(c, p); resp.StatusCode != http.StatusForbidden {
				t.Errorf("agent %s: %d", p, resp.StatusCode)
			}
		}
	})
	t.Run("an unknown integration", func(t *testing.T) {
		if resp, _ := f.get(f.cookie, "/settings/integrations/nope/connect"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%d", resp.StatusCode)
		}
	})
}

func TestOAuthCallbackFailures(t *testing.T) {
	f := newOAuthFixture(t)
	t.Run("the user declines", func(t *testing.T) {
		f.idp.DenyNext()
		back, err := f.idp.Authorize(f.start(f.cookie).String())
		if err != nil {
			t.Fatal(err)
		}
		resp, body := f.get(f.cookie, callbackPath(t, back))
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "access_denied") || !strings.Contains(body, "AADSTS65004") ||
			!strings.Contains(body, `data-testid="mailboxes"`) {
			t.Errorf("declined: %d %.500s", resp.StatusCode, body)
		}
	})
	t.Run("the provider refuses the code", func(t *testing.T) {
		back, err := f.idp.Authorize(f.start(f.cookie).String())
		if err != nil {
			t.Fatal(err)
		}
		q := back.Query()
		q.Set("code", "forged-code")
		back.RawQuery = q.Encode()
		resp, body := f.get(f.cookie, callbackPath(t, back))
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "invalid_grant") {
			t.Errorf("forged code: %d %.500s", resp.StatusCode, body)
		}
		for _, secret := range []string{f.idp.ClientSecret, "Trace ID"} {
			if strings.Contains(body, secret) {
				t.Errorf("the page shows %q", secret)
			}
		}
		if f.tokens.get(contract.TokenRefresh) != "" {
			t.Error("tokens were stored")
		}
	})
	t.Run("the integration went meanwhile", func(t *testing.T) {
		back, err := f.idp.Authorize(f.start(f.cookie).String())
		if err != nil {
			t.Fatal(err)
		}
		f.ints.mu.Lock()
		delete(f.ints.adapters, "support")
		f.ints.mu.Unlock()
		defer func() {
			f.ints.mu.Lock()
			f.ints.adapters["support"] = f.mail
			f.ints.mu.Unlock()
		}()
		if resp, body := f.get(f.cookie, callbackPath(t, back)); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "no open integration") {
			t.Errorf("%d %.300s", resp.StatusCode, body)
		}
	})
}

// TestOAuthCallbackHostileQueries sends the callback odd queries, with and
// without a state this session started: none fails on our side, connects
// anything, or shows the verifier or the client secret.
func TestOAuthCallbackHostileQueries(t *testing.T) {
	fx := newOAuthFixture(t)
	for _, tc := range []struct {
		withState bool
		raw       string
	}{
		{true, "code=abc"},
		{true, "code=abc&code=def"},
		{true, "state=other&code=abc"},
		{true, "error=access_denied&error_description=AADSTS65004%3A+no%0D%0ATrace+ID%3A+x"},
		{true, "error=%3Cscript%3Ealert(1)%3C%2Fscript%3E&error_description=%00%ff"},
		{true, "code=" + strings.Repeat("a", 5000)},
		{true, "code=%20abc"},
		{true, ""},
		{false, "state=abc&code=def"},
		{false, "state=%00&&&=&code"},
		{false, "state=" + strings.Repeat("s", 300) + "&code=x"},
		{false, ""},
	} {
		path := microsoft.CallbackPath + "?" + tc.raw
		var verifier string
		if tc.withState {
			state, _, err := fx.srv.OAuth.Start(bg, fx.admin.ID, fx.hash, "support", publicURL+microsoft.CallbackPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := fx.st.Pool.QueryRow(bg, `SELECT code_verifier FROM oauth_states WHERE state_hash = $1`, auth.HashToken(state)).Scan(&verifier); err != nil {
				t.Fatal(err)
			}
			path = microsoft.CallbackPath + "?state=" + url.QueryEscape(state) + "&" + tc.raw
		}
		resp, body := fx.get(fx.cookie, path)
		switch resp.StatusCode {
		case http.StatusBadRequest, http.StatusBadGateway:
		default:
			t.Errorf("%.80q: %d %.300s", path, resp.StatusCode, body)
		}
		if (verifier != "" && strings.Contains(body, verifier)) || strings.Contains(body, fx.idp.ClientSecret) || strings.Contains(body, "<script>alert") {
			t.Errorf("%.80q: the page shows what it must not", path)
		}
		if fx.tokens.get(contract.TokenRefresh) != "" {
			t.Fatalf("%.80q connected the mailbox", path)
		}
	}
}

// FuzzOAuthCallbackQuery feeds arbitrary queries to the callback's reader:
// it never panics, and what it accepts is bounded and printable.
func FuzzOAuthCallbackQuery(f *testing.F) {
	f.Add("state=abc&code=def")
	f.Add("state=abc&error=access_denied&error_description=AADSTS65004%3A+no%0D%0ATrace+ID%3A+x")
	f.Add("state=a&state=b&code=c")
	f.Add("state=%00&&&=&code")
	f.Add("code=x")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		cb, err := readCallback(q)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest {
				t.Fatalf("%q: %v is not a 400", raw, err)
			}
			return
		}
		if cb.State == "" || len(cb.State) > maxCallbackState || !urlSafe(cb.State) {
			t.Fatalf("%q: accepted state %q", raw, cb.State)
		}
		if (cb.Error == "") == (cb.Code == "") {
			t.Fatalf("%q: neither or both of an error and a code: %+v", raw, cb)
		}
		if cb.Code != "" && (len(cb.Code) > maxCallbackCode || !urlSafe(cb.Code)) {
			t.Fatalf("%q: accepted code %q", raw, cb.Code)
		}
		for _, s := range []string{cb.Error, cb.Description} {
			if len(s) > 300+len("…") || strings.ContainsAny(s, "\r\n\x00") || !utf8.ValidString(s) {
				t.Fatalf("%q: unbounded or unprintable text %q", raw, s)
			}
		}
	})
}

func TestClip(t *testing.T) {
	for in, want := range map[string]string{
		"AADSTS65004: declined":     "AADSTS65004: declined",
		"a\x00b\x7fc\r\nd":          "abcd",
		strings.Repeat("x", 70):     strings.Repeat("x", 64) + "…",
		"caf\xc3\xa9 \xff":          "café ",
		"<script>alert(1)</script>": "<script>alert(1)</script>", // escaped by the template
	} {
		if got := clip(in, 64); got != want {
			t.Errorf("clip(%q) = %q, want %q", in, got, want)
		}
	}
	if got := firstLine("AADSTS1: x\r\nTrace ID: y"); got != "AADSTS1: x" {
		t.Errorf("firstLine: %q", got)
	}
}
