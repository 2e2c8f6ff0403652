package microsoft

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/emulators/microsofttest"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
)

// memTokens is a TokenStore with Vault's check-and-set: one entry, its
// versions counted from 1.
type memTokens struct {
	mu      sync.Mutex
	data    map[string]string
	version int
	writes  int
	// allow, when not negative, is how many more writes succeed before
	// writes fail (Vault sealed); -1 is no limit.
	allow int
}

func (m *memTokens) Read(context.Context) (map[string]string, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		return nil, 0, nil
	}
	return maps.Clone(m.data), m.version, nil
}

func (m *memTokens) Write(_ context.Context, data map[string]string, cas int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.allow == 0 {
		return 0, errors.New("vault is sealed")
	}
	if m.allow > 0 {
		m.allow--
	}
	if cas != m.version {
		return 0, adapter.ErrConflict
	}
	m.data, m.version = maps.Clone(data), m.version+1
	m.writes++
	return m.version, nil
}

func (m *memTokens) get(k string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data[k]
}

// clock is a settable clock shared by the adapter and the emulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// reports records what an adapter reported.
type reports struct {
	mu  sync.Mutex
	all []health
}

func (r *reports) report(state, code, message string) {
	r.mu.Lock()
	r.all = append(r.all, health{state, code, message})
	r.mu.Unlock()
}

func (r *reports) last() health {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.all) == 0 {
		return health{}
	}
	return r.all[len(r.all)-1]
}

// waitFor waits until the last report has state.
func (r *reports) waitFor(t *testing.T, state string) health {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if h := r.last(); h.state == state {
			return h
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s report; the last was %+v", state, r.last())
	return health{}
}

type fixture struct {
	idp     *microsofttest.Server
	store   *memTokens
	clock   *clock
	reports *reports
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: &memTokens{allow: -1}, clock: newClock(), reports: &reports{}}
	f.idp = microsofttest.New(microsofttest.Options{Now: f.clock.Now, RedirectURIs: []string{"https://acme.example.com" + CallbackPath}})
	t.Cleanup(f.idp.Close)
	return f
}

const redirectURI = "https://acme.example.com" + CallbackPath

// open builds an adapter (a replica) over the fixture's store.
func (f *fixture) open(t *testing.T, extra map[string]string) *Adapter {
	t.Helper()
	creds := map[string]string{CredClientID: f.idp.ClientID, CredClientSecret: f.idp.ClientSecret}
	maps.Copy(creds, extra)
	a, err := New(adapter.Deps{
		Name: "support", Key: contract.ChannelKey(Type, "support"),
		Info: contract.ChannelInfo{Type: Type, UID: "uid-1", CredentialsVersion: 3, Config: map[string]string{
			ConfigTenant: f.idp.Tenant, ConfigMailbox: "support@contoso.example", ConfigAuthority: f.idp.URL}},
		Credentials: creds, Tokens: f.store, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Report: f.reports.report, Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ad := a.(*Adapter)
	ad.tokens.poll = 5 * time.Millisecond
	t.Cleanup(ad.Close)
	return ad
}

func pkce() (verifier, challenge string) {
	verifier = "verifier-" + strings.Repeat("x", 40)
	h := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(h[:])
}

// connect runs the authorization-code flow as the web layer does.
func (f *fixture) connect(t *testing.T, a *Adapter) string {
	t.Helper()
	verifier, challenge := pkce()
	back, err := f.idp.Authorize(a.AuthorizeURL(redirectURI, "state-1", challenge))
	if err != nil {
		t.Fatal(err)
	}
	if back.Query().Get("state") != "state-1" || back.Query().Get("code") == "" {
		t.Fatalf("the authorize endpoint sent the browser to %s", back)
	}
	account, err := a.Connect(context.Background(), back.Query().Get("code"), verifier, redirectURI)
	if err != nil {
		t.Fatal(err)
	}
	return account
}

func TestAuthorizeURL(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, nil)
	u, err := url.Parse(a.AuthorizeURL(redirectURI, "st", "ch"))
	if err != nil {
		t.Fatal(err)
	}
	if want := f.idp.URL + "/" + f.idp.Tenant + "/oauth2/v2.0/authorize"; u.Scheme+"://"+u.Host+u.Path != want {
		t.Errorf("authorize endpoint %s, want %s", u.Path, want)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"client_id": f.idp.ClientID, "response_type": "code", "redirect_uri": redirectURI, "response_mode": "query",
		"state": "st", "code_challenge": "ch", "code_challenge_method": "S256", "login_hint": "support@contoso.example",
		"scope": "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access openid email",
	} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if q.Has("client_secret") {
		t.Error("the authorize URL carries the client secret")
	}
}

func TestConnect(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, nil)
	if got := f.connect(t, a); got != "support@contoso.example" {
		t.Errorf("account %q", got)
	}
	reqs := f.idp.TokenRequests()
	if len(reqs) != 1 || reqs[0].Status != 200 {
		t.Fatalf("token requests %+v", reqs)
	}
	form := reqs[0].Form
	verifier, _ := pkce()
	for k, want := range map[string]string{"grant_type": "authorization_code", "client_id": f.idp.ClientID,
		"client_secret": f.idp.ClientSecret, "redirect_uri": redirectURI, "code_verifier": verifier} {
		if form.Get(k) != want {
			t.Errorf("token request %s = %q, want %q", k, form.Get(k), want)
		}
	}
	valid := f.idp.ValidRefreshTokens()
	if len(valid) != 1 || f.store.get(contract.TokenRefresh) != valid[0] {
		t.Errorf("stored refresh token is not the one the provider honours")
	}
	if acct, ok := f.idp.ActiveAccessToken(f.store.get(contract.TokenAccess)); !ok || acct != "support@contoso.example" {
		t.Errorf("stored access token inactive")
	}
	if got, want := f.store.get(contract.TokenExpiresAt), f.clock.Now().Add(time.Hour).Format(time.RFC3339); got != want {
		t.Errorf("expiresAt %s, want %s", got, want)
	}
	if f.store.get(contract.TokenAccount) != "support@contoso.example" || f.store.get(contract.TokenCredentialsVersion) != "3" {
		t.Errorf("entry %v", f.store.data)
	}

	t.Run("a code is redeemed once", func(t *testing.T) {
		verifier, challenge := pkce()
		back, err := f.idp.Authorize(a.AuthorizeURL(redirectURI, "s2", challenge))
		if err != nil {
			t.Fatal(err)
		}
		code := back.Query().Get("code")
		if _, err := a.Connect(context.Background(), code, verifier, redirectURI); err != nil {
			t.Fatal(err)
		}
		_, err = a.Connect(context.Background(), code, verifier, redirectURI)
		var oe *Error
		if !errors.As(err, &oe) || oe.Code != "invalid_grant" || !slices.Equal(oe.Codes, []int{54005}) {
			t.Errorf("second redemption: %v", err)
		}
	})
	t.Run("a wrong verifier is refused", func(t *testing.T) {
		_, challenge := pkce()
		back, err := f.idp.Authorize(a.AuthorizeURL(redirectURI, "s3", challenge))
		if err != nil {
			t.Fatal(err)
		}
		before := f.store.version
		_, err = a.Connect(context.Background(), back.Query().Get("code"), "another-verifier-"+strings.Repeat("y", 40), redirectURI)
		var oe *Error
		if !errors.As(err, &oe) || oe.Code != "invalid_grant" || !slices.Equal(oe.Codes, []int{501481}) {
			t.Errorf("wrong verifier: %v", err)
		}
		if strings.Contains(err.Error(), f.idp.ClientSecret) || strings.Contains(err.Error(), "Trace ID") {
			t.Errorf("the error shows too much: %v", err)
		}
		if f.store.version != before {
			t.Error("a refused connection wrote the tokens")
		}
	})
	t.Run("an unregistered redirect URI is refused by the provider", func(t *testing.T) {
		_, challenge := pkce()
		if _, err := f.idp.Authorize(a.AuthorizeURL("https://evil.example/cb", "s4", challenge)); err == nil ||
			!strings.Contains(err.Error(), "AADSTS50011") {
			t.Errorf("authorize: %v", err)
		}
	})
}

func TestRefreshRotates(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, nil)
	f.connect(t, a)
	ctx := context.Background()
	first, err := a.tokens.token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.idp.TokenRequests()); n != 1 {
		t.Fatalf("a fresh token was refreshed: %d token requests", n)
	}
	f.clock.Advance(56 * time.Minute) // within RefreshSkew of the expiry
	second, err := a.tokens.token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.Access == first.Access || second.Refresh == first.Refresh {
		t.Fatal("the tokens were not refreshed")
	}
	reqs := f.idp.TokenRequests()
	last := reqs[len(reqs)-1]
	if last.GrantType != "refresh_token" || last.Form.Get("refresh_token") != first.Refresh || last.Form.Get("client_secret") != f.idp.ClientSecret {
		t.Errorf("refresh request %v", last.Form)
	}
	if got := f.store.get(contract.TokenRefresh); got != second.Refresh {
		t.Error("the rotated refresh token was not stored")
	}
	if f.store.get(leaseKey) != "" {
		t.Error("the refresh claim was left in the entry")
	}
	if valid := f.idp.ValidRefreshTokens(); !slices.Equal(valid, []string{second.Refresh}) {
		t.Errorf("the provider honours %d refresh tokens, want the stored one only", len(valid))
	}

	t.Run("a fresh replica reads the stored tokens and refreshes nothing", func(t *testing.T) {
		b := f.open(t, nil)
		n := len(f.idp.TokenRequests())
		got, err := b.tokens.token(ctx)
		if err != nil || got.Access != second.Access || len(f.idp.TokenRequests()) != n {
			t.Errorf("replica: %v, same token %v, %d new requests", err, got.Access == second.Access, len(f.idp.TokenRequests())-n)
		}
	})
	t.Run("the old refresh token is refused", func(t *testing.T) {
		_, err := a.oauth.refresh(ctx, first.Refresh)
		var oe *Error
		if !errors.As(err, &oe) || !oe.GrantGone() || !slices.Equal(oe.Codes, []int{70008}) {
			t.Errorf("reusing a rotated refresh token: %v", err)
		}
	})
}

// TestConcurrentRefresh has replicas refresh the same tokens at once: one
// refreshes, the others wait for it and use its tokens; the provider sees
// one refresh and no refused token.
func TestConcurrentRefresh(t *testing.T) {
	f := newFixture(t)
	replicas := []*Adapter{f.open(t, nil), f.open(t, nil), f.open(t, nil)}
	f.connect(t, replicas[0])
	f.clock.Advance(time.Hour)
	f.idp.SetDelay(100 * time.Millisecond)
	before := len(f.idp.TokenRequests())
	got := make([]tokenSet, len(replicas))
	errs := make([]error, len(replicas))
	var wg sync.WaitGroup
	for i, r := range replicas {
		wg.Add(1)
		go func() { defer wg.Done(); got[i], errs[i] = r.tokens.token(context.Background()) }()
	}
	wg.Wait()
	for i := range replicas {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		if got[i].Access != got[0].Access {
			t.Errorf("replica %d uses another access token", i)
		}
	}
	reqs := f.idp.TokenRequests()[before:]
	if len(reqs) != 1 || reqs[0].Status != 200 {
		t.Errorf("the provider saw %d refreshes (%+v), want 1", len(reqs), reqs)
	}
	if f.store.get(contract.TokenRefresh) != got[0].Refresh || !slices.Equal(f.idp.ValidRefreshTokens(), []string{got[0].Refresh}) {
		t.Error("the stored refresh token is not the provider's current one")
	}
}

// TestLapsedClaim: a replica that claimed the refresh and died holds it up
// only until its lease lapses.
func TestLapsedClaim(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, nil)
	f.connect(t, a)
	f.clock.Advance(time.Hour)
	data, v, _ := f.store.Read(context.Background())
	data[leaseKey] = f.clock.Now().Add(refreshLease).Format(time.RFC3339Nano)
	if _, err := f.store.Write(context.Background(), data, v); err != nil {
		t.Fatal(err)
	}
	b := f.open(t, nil)
	done := make(chan error, 1)
	go func() { _, err := b.tokens.token(context.Background()); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("the replica did not wait for the claim: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	f.clock.Advance(refreshLease)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the replica still waits after the claim lapsed")
	}
	if f.store.get(leaseKey) != "" {
		t.Error("a claim is left")
	}
}

func TestInvalidGrant(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, nil)
	f.connect(t, a)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); a.runTokens(ctx) }()
	f.reports.waitFor(t, contract.HealthConnected)

	f.idp.Revoke()
	f.clock.Advance(time.Hour)
	a.wake <- struct{}{}
	h := f.reports.waitFor(t, contract.HealthReauthorizationRequired)
	if h.code != "invalid_grant" || !strings.Contains(h.message, "AADSTS700082") || !strings.Contains(h.message, "reconnect") {
		t.Errorf("report %+v", h)
	}
	refreshes := func() int {
		n := 0
		for _, r := range f.idp.TokenRequests() {
			if r.GrantType == "refresh_token" {
				n++
			}
		}
		return n
	}
	n := refreshes()
	for range 3 {
		a.wake <- struct{}{}
		if _, err := a.tokens.token(ctx); err == nil {
			t.Fatal("a revoked grant gave a token")
		}
	}
	if refreshes() != n {
		t.Errorf("the refused refresh token was tried %d more times", refreshes()-n)
	}

	t.Run("a new connection recovers", func(t *testing.T) {
		f.connect(t, a)
		f.reports.waitFor(t, contract.HealthConnected)
	})
	cancel()
	<-done
}

func TestRotatedOutSeed(t *testing.T) {
	f := newFixture(t)
	seed := f.idp.IssueRefreshToken("support@contoso.example")
	a := f.open(t, map[string]string{CredRefreshToken: seed})
	ctx := context.Background()
	tok, err := a.tokens.token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Refresh == seed || f.store.get(contract.TokenRefresh) != tok.Refresh {
		t.Fatal("the seed was not rotated into the entry")
	}
	// Another runtime (a copy of the Secret elsewhere) used the seed: it is
	// gone, and an entry that lost its tokens cannot fall back on it.
	b := f.open(t, map[string]string{CredRefreshToken: seed})
	f.store.mu.Lock()
	f.store.data = nil
	f.store.version = 0
	f.store.mu.Unlock()
	_, err = b.tokens.token(ctx)
	h, retry := classify(err)
	if h.state != contract.HealthReauthorizationRequired || h.code != "invalid_grant" || retry || !strings.Contains(h.message, "AADSTS70008") {
		t.Errorf("rotated-out seed: %+v, retry %v (%v)", h, retry, err)
	}
}

func TestNotConnected(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.runTokens(ctx) }()
	h := f.reports.waitFor(t, contract.HealthReauthorizationRequired)
	if h.code != "" || h.message != "connect the mailbox from Settings" {
		t.Errorf("report %+v", h)
	}
	if n := len(f.idp.TokenRequests()); n != 0 {
		t.Errorf("%d token requests with nothing connected", n)
	}
	f.connect(t, a)
	f.reports.waitFor(t, contract.HealthConnected)
	cancel()
	<-done
}

func TestTemporaryFailures(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, nil)
	f.connect(t, a)
	f.clock.Advance(time.Hour)
	f.idp.FailNext(1, 503, "temporarily_unavailable")
	f.idp.FailNext(1, 500, "server_error")
	ctx := context.Background()
	for i, want := range []string{"temporarily_unavailable", "server_error"} {
		_, err := a.tokens.token(ctx)
		h, retry := classify(err)
		if h.state != contract.HealthUnreachable || h.code != want || !retry {
			t.Errorf("failure %d: %+v retry %v (%v)", i, h, retry, err)
		}
		if f.store.get(leaseKey) != "" {
			t.Errorf("failure %d left its claim", i)
		}
	}
	if _, err := a.tokens.token(ctx); err != nil {
		t.Fatalf("after the outage: %v", err)
	}

	t.Run("the backoff grows and is bounded", func(t *testing.T) {
		f.clock.Advance(time.Hour)
		f.idp.FailNext(20, 503, "temporarily_unavailable")
		backoff := time.Second
		var waits []time.Duration
		for range 12 {
			waits = append(waits, a.refreshOnce(ctx, &backoff))
		}
		if waits[0] < time.Second || waits[0] > 2*time.Second || waits[3] < 8*time.Second || waits[11] > maxBackoff*3/2 {
			t.Errorf("waits %v", waits)
		}
		if f.reports.last().state != contract.HealthUnreachable {
			t.Errorf("report %+v", f.reports.last())
		}
	})
}

func TestInvalidClient(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, nil)
	f.connect(t, a)
	f.clock.Advance(time.Hour)
	b := f.open(t, map[string]string{CredClientSecret: "an-expired-secret"})
	backoff := time.Second
	if wait := b.refreshOnce(context.Background(), &backoff); wait != idleWait {
		t.Errorf("wait %v after the client was refused", wait)
	}
	h := f.reports.last()
	if h.state != contract.HealthAuthFailed || h.code != "invalid_client" || !strings.Contains(h.message, "AADSTS7000215") {
		t.Errorf("report %+v", h)
	}
	if strings.Contains(h.message, "an-expired-secret") {
		t.Error("the report shows the secret")
	}
}

func TestVaultWriteFailure(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, nil)
	f.connect(t, a)
	first, _ := a.tokens.token(context.Background())
	f.clock.Advance(time.Hour)
	for _, allow := range []int{0, 1} { // the claim fails; the claim is written and the result is not
		f.store.mu.Lock()
		f.store.allow = allow
		f.store.mu.Unlock()
		_, err := a.tokens.token(context.Background())
		if h, retry := classify(err); err == nil || h.state != contract.HealthUnreachable || !retry {
			t.Errorf("vault down after %d writes: %+v %v", allow, h, err)
		}
		if a.tokens.cur.Access != first.Access {
			t.Errorf("vault down after %d writes: tokens that could not be stored were used", allow)
		}
	}
}

func TestCloseDropsCredentials(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, map[string]string{CredRefreshToken: "seed-token"})
	f.connect(t, a)
	held := a.Credentials()
	for _, want := range []string{f.idp.ClientSecret, f.store.get(contract.TokenAccess), f.store.get(contract.TokenRefresh), "seed-token"} {
		if !slices.Contains(held, want) {
			t.Errorf("Credentials() lacks a value the adapter holds")
		}
	}
	a.Close()
	if got := a.Credentials(); len(got) != 0 {
		t.Errorf("after Close the adapter holds %d secrets", len(got))
	}
	if u := a.AuthorizeURL(redirectURI, "s", "c"); u != "" {
		t.Error("a closed adapter still builds authorize URLs")
	}
	if _, err := a.Connect(context.Background(), "code", "verifier", redirectURI); !errors.Is(err, ErrClosed) {
		t.Errorf("Connect after Close: %v", err)
	}
}

func TestFactoryRefusesIncompleteIntegrations(t *testing.T) {
	for name, d := range map[string]adapter.Deps{
		"no tenant": {Info: contract.ChannelInfo{Config: map[string]string{ConfigMailbox: "a@b"}},
			Credentials: map[string]string{CredClientID: "c", CredClientSecret: "s"}, Tokens: &memTokens{allow: -1}},
		"no secret": {Info: contract.ChannelInfo{Config: map[string]string{ConfigTenant: "t", ConfigMailbox: "a@b"}},
			Credentials: map[string]string{CredClientID: "c"}, Tokens: &memTokens{allow: -1}},
		"no token store": {Info: contract.ChannelInfo{Config: map[string]string{ConfigTenant: "t", ConfigMailbox: "a@b"}},
			Credentials: map[string]string{CredClientID: "c", CredClientSecret: "s"}},
		"bad authority": {Info: contract.ChannelInfo{Config: map[string]string{ConfigTenant: "t", ConfigMailbox: "a@b", ConfigAuthority: "login"}},
			Credentials: map[string]string{CredClientID: "c", CredClientSecret: "s"}, Tokens: &memTokens{allow: -1}},
	} {
		d.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
		if _, err := New(d); err == nil {
			t.Errorf("%s: built", name)
		} else if strings.Contains(err.Error(), "\"s\"") {
			t.Errorf("%s: the error shows the secret: %v", name, err)
		}
	}
	if f, ok := adapter.Lookup(Type); !ok || f == nil {
		t.Error("the factory is not registered")
	}
}

func TestParseTokenResponse(t *testing.T) {
	tests := []struct {
		name   string
		status int
		ct     string
		body   string
		want   time.Duration // 0: an error with code
		code   string
		codes  []int
		temp   bool
	}{
		{"ok", 200, "application/json; charset=utf-8", `{"token_type":"Bearer","expires_in":3599,"access_token":"a","refresh_token":"r"}`, 3599 * time.Second, "", nil, false},
		{"expires_in as a string", 200, "application/json", `{"token_type":"Bearer","expires_in":"3600","access_token":"a","refresh_token":"r"}`, time.Hour, "", nil, false},
		{"no refresh token", 200, "application/json", `{"token_type":"Bearer","expires_in":3600,"access_token":"a"}`, 0, "invalid_response", nil, false},
		{"not bearer", 200, "application/json", `{"token_type":"pop","expires_in":3600,"access_token":"a","refresh_token":"r"}`, 0, "invalid_response", nil, false},
		{"negative lifetime", 200, "application/json", `{"expires_in":-5,"access_token":"a","refresh_token":"r"}`, 0, "invalid_response", nil, false},
		{"invalid_grant", 400, "application/json", `{"error":"invalid_grant","error_description":"AADSTS70008: expired.\r\nTrace ID: x","error_codes":[70008]}`, 0, "invalid_grant", []int{70008}, false},
		{"temporarily_unavailable", 400, "application/json", `{"error":"temporarily_unavailable","error_codes":[50196]}`, 0, "temporarily_unavailable", []int{50196}, true},
		{"HTML 503", 503, "text/html", `<html>Service Unavailable</html>`, 0, "temporarily_unavailable", nil, true},
		{"HTML 400", 400, "text/html", `<html>Bad</html>`, 0, "invalid_response", nil, false},
		{"error with 200", 200, "application/json", `{"error":"invalid_request"}`, 0, "invalid_request", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseTokenResponse(tc.status, tc.ct, []byte(tc.body))
			if tc.want != 0 {
				if err != nil || r.ExpiresIn != tc.want || r.AccessToken != "a" || r.RefreshToken != "r" {
					t.Fatalf("got %+v, %v", r, err)
				}
				return
			}
			var oe *Error
			if !errors.As(err, &oe) || oe.Code != tc.code || !slices.Equal(oe.Codes, tc.codes) || oe.Temporary() != tc.temp {
				t.Fatalf("got %#v", err)
			}
			if strings.Contains(oe.Description, "Trace ID") {
				t.Errorf("description keeps the trace: %q", oe.Description)
			}
		})
	}
}

func TestXOAUTH2(t *testing.T) {
	// The test vector of PROVIDERS.md (Google's and Microsoft's docs).
	got := base64.StdEncoding.EncodeToString(XOAUTH2("user", "mF_9.B5f-4.1JqM"))
	if want := "dXNlcj11c2VyAWF1dGg9QmVhcmVyIG1GXzkuQjVmLTQuMUpxTQEB"; got != want {
		t.Errorf("XOAUTH2 = %s, want %s", got, want)
	}
}

func TestIDTokenAccount(t *testing.T) {
	claims := func(s string) string {
		return "h." + base64.RawURLEncoding.EncodeToString([]byte(s)) + ".sig"
	}
	for tok, want := range map[string]string{
		claims(`{"preferred_username":"a@b.example","email":"c@d"}`): "a@b.example",
		claims(`{"email":"c@d.example"}`):                            "c@d.example",
		claims(`{"upn":"e@f.example"}`):                              "e@f.example",
		claims(`{"preferred_username":"x\u0001y"}`):                  "xy",
		claims(`[]`):  "",
		"not a token": "",
		"a.%%%.c":     "",
	} {
		if got := idTokenAccount(tok); got != want {
			t.Errorf("idTokenAccount(%q) = %q, want %q", tok, got, want)
		}
	}
}

func FuzzParseTokenResponse(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"token_type":"Bearer","expires_in":3599,"access_token":"a","refresh_token":"r","id_token":"h.eyJlbWFpbCI6ImFAYiJ9.s"}`))
	f.Add(400, "application/json", []byte(`{"error":"invalid_grant","error_description":"AADSTS70008: x\r\nTrace ID: y","error_codes":[70008]}`))
	f.Add(200, "application/json", []byte(`{"expires_in":"12e3","access_token":"a","refresh_token":"r"}`))
	f.Add(503, "text/html", []byte(`<html>`))
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte) {
		r, err := parseTokenResponse(status, ct, body)
		if err == nil {
			if status != 200 || r.AccessToken == "" || r.RefreshToken == "" || r.ExpiresIn <= 0 || r.ExpiresIn > 24*time.Hour {
				t.Fatalf("accepted %d %q: %+v", status, body, r)
			}
			_ = idTokenAccount(r.IDToken)
			return
		}
		var oe *Error
		if !errors.As(err, &oe) {
			t.Fatalf("error of type %T", err)
		}
		if len(oe.Description) > maxDescription || len(oe.Codes) > 4 || strings.ContainsAny(oe.Description+oe.Code, "\r\n") {
			t.Fatalf("unbounded error: %q", fmt.Sprint(oe))
		}
		_, _ = classify(err)
	})
}
