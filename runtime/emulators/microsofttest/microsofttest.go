// Package microsofttest emulates the Microsoft identity platform for one
// tenant and one app registration, for tests and local development:
//
//   - GET /{tenant}/oauth2/v2.0/authorize signs the account in and consents
//     at once: it checks client_id, redirect_uri (registered), response_type
//     and the S256 code challenge, and redirects to redirect_uri with a code
//     and the state, as the real endpoint does with response_mode=query.
//   - POST /{tenant}/oauth2/v2.0/token redeems an authorization code (with
//     the client secret and the PKCE verifier) or a refresh token. Every
//     refresh rotates the refresh token: the old one is refused from then
//     on with invalid_grant and error_codes [70008]. Revoke refuses every
//     grant with 700082. Errors have Microsoft's shape (error,
//     error_description "AADSTSn: ...", error_codes, timestamp, trace_id,
//     correlation_id).
//   - POST /introspect answers an OAuth 2.0 token introspection (RFC 7662)
//     for dovecot's oauth2 passdb: {"active":true,"email":<account>} for a
//     live access token, {"active":false} for anything else.
//
// It records the requests it was sent, and can be made to fail (FailNext)
// or to answer slowly (SetDelay).
package microsofttest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. Zero values get defaults.
type Options struct {
	// Tenant is the tenant id in the endpoints' paths ("tenant-1").
	Tenant string
	// ClientID and ClientSecret are the app registration's ("client-1",
	// "secret-1").
	ClientID, ClientSecret string
	// RedirectURIs are the app's registered redirect URIs; empty accepts
	// any http(s) URI.
	RedirectURIs []string
	// Account is who signs in at the authorize endpoint when the request
	// has no login_hint ("support@contoso.example").
	Account string
	// AccessTokenLifetime is expires_in (1 h).
	AccessTokenLifetime time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	// URL is the authority: pass it as the Integration's authorityURL.
	URL string
	// Tenant, ClientID and ClientSecret are what the app must present.
	Tenant, ClientID, ClientSecret string

	srv *httptest.Server
	key *rsa.PrivateKey

	mu           sync.Mutex
	opts         Options
	codes        map[string]*code
	refresh      map[string]*refreshToken
	access       map[string]*accessToken
	grants       []*grant
	failures     []failure
	delay        time.Duration
	deny         string
	tokenReqs    []TokenRequest
	authorizeReq []url.Values
	introspected int
	seq          int
}

type grant struct {
	id      int
	account string
	revoked bool
}

type code struct {
	grant       *grant
	clientID    string
	redirectURI string
	challenge   string
	scope       string
	expires     time.Time
	redeemed    bool
}

type refreshToken struct {
	grant   *grant
	rotated bool
}

type accessToken struct {
	grant   *grant
	expires time.Time
}

type failure struct {
	status int
	code   string
}

// TokenRequest is one request to the token endpoint, as sent (secrets and
// all: it is a test's record).
type TokenRequest struct {
	GrantType string
	Form      url.Values
	// Status is what the emulator answered.
	Status int
	// Error is the OAuth error it answered with, "" for tokens.
	Error string
}

// New starts an emulator; Close stops it.
func New(o Options) *Server {
	if o.Tenant == "" {
		o.Tenant = "tenant-1"
	}
	if o.ClientID == "" {
		o.ClientID = "client-1"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "secret-1"
	}
	if o.Account == "" {
		o.Account = "support@contoso.example"
	}
	if o.AccessTokenLifetime == 0 {
		o.AccessTokenLifetime = time.Hour
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	s := &Server{Tenant: o.Tenant, ClientID: o.ClientID, ClientSecret: o.ClientSecret, key: key, opts: o,
		codes: map[string]*code{}, refresh: map[string]*refreshToken{}, access: map[string]*accessToken{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", s.authorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	mux.HandleFunc("POST /introspect", s.introspect)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// IntrospectionURL is the endpoint for dovecot's oauth2 passdb
// (introspection_mode = post).
func (s *Server) IntrospectionURL() string { return s.URL + "/introspect" }

// TokenURL is the tenant's token endpoint.
func (s *Server) TokenURL() string { return s.URL + "/" + s.Tenant + "/oauth2/v2.0/token" }

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

func (s *Server) newToken(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	s.seq++
	return fmt.Sprintf("%s%d.%s", prefix, s.seq, base64.RawURLEncoding.EncodeToString(b))
}

// Authorize plays the browser at the authorize endpoint: it requests
// authorizeURL without following the redirect, and returns where it
// redirects to (the app's redirect URI with code and state, or error and
// error_description). An authorize request the emulator refuses outright
// (unknown client, unregistered redirect URI) is an error.
func (s *Server) Authorize(authorizeURL string) (*url.URL, error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authorizeURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("authorize answered %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return url.Parse(resp.Header.Get("Location"))
}

// IssueRefreshToken makes a grant for account as if it had consented, and
// returns its refresh token (to seed an Integration's Secret).
func (s *Server) IssueRefreshToken(account string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.newGrant(account)
	rt := s.newToken("rt")
	s.refresh[rt] = &refreshToken{grant: g}
	return rt
}

func (s *Server) newGrant(account string) *grant {
	g := &grant{id: len(s.grants) + 1, account: account}
	s.grants = append(s.grants, g)
	return g
}

// Revoke revokes every grant, as an admin revoking the app's sessions or
// a password reset does: refresh tokens are refused with invalid_grant
// 700082, and access tokens stop being active at introspection.
func (s *Server) Revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.grants {
		g.revoked = true
	}
}

// ExpireAccessTokens ends every access token issued so far.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.access {
		a.expires = time.Time{}
	}
}

// FailNext makes the next n token requests fail with status and the OAuth
// error code (e.g. 503 "temporarily_unavailable", 500 "server_error").
func (s *Server) FailNext(n, status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status, code})
	}
}

// SetDelay makes the token endpoint wait d before answering (races).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// DenyNext makes the next authorize request come back with
// error=access_denied, as when the user declines to consent.
func (s *Server) DenyNext() {
	s.mu.Lock()
	s.deny = "access_denied"
	s.mu.Unlock()
}

// TokenRequests lists the token requests so far, oldest first.
func (s *Server) TokenRequests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokenReqs)
}

// AuthorizeRequests lists the authorize requests' query parameters.
func (s *Server) AuthorizeRequests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.authorizeReq)
}

// Introspections counts the introspection requests.
func (s *Server) Introspections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.introspected
}

// ValidRefreshTokens lists the refresh tokens the emulator would honour.
func (s *Server) ValidRefreshTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for t, r := range s.refresh {
		if !r.rotated && !r.grant.revoked {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// ActiveAccessToken says whether the emulator would accept an access token.
func (s *Server) ActiveAccessToken(token string) (account string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.access[token]
	if a == nil || a.grant.revoked || !s.now().Before(a.expires) {
		return "", false
	}
	return a.grant.account, true
}

// authorize is GET /{tenant}/oauth2/v2.0/authorize.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorizeReq = append(s.authorizeReq, q)
	// Errors about the client or the redirect URI are shown to the user:
	// there is nowhere safe to redirect them.
	if r.PathValue("tenant") != s.Tenant {
		page(w, 90002, "Tenant '"+r.PathValue("tenant")+"' not found.")
		return
	}
	if q.Get("client_id") != s.ClientID {
		page(w, 700016, "Application with identifier '"+q.Get("client_id")+"' was not found in the directory.")
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || (redirect.Scheme != "http" && redirect.Scheme != "https") || redirect.Host == "" || redirect.Fragment != "" ||
		(len(s.opts.RedirectURIs) > 0 && !slices.Contains(s.opts.RedirectURIs, q.Get("redirect_uri"))) {
		page(w, 50011, "The redirect URI specified in the request does not match the redirect URIs configured for the application.")
		return
	}
	back := func(v url.Values) {
		if st := q.Get("state"); st != "" {
			v.Set("state", st)
		}
		u := *redirect
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	fail := func(errCode string, n int, msg string) {
		back(url.Values{"error": {errCode}, "error_description": {fmt.Sprintf("AADSTS%d: %s", n, msg)}})
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", 700054, "response_type '"+q.Get("response_type")+"' is not enabled for the application.")
		return
	case q.Get("response_mode") != "" && q.Get("response_mode") != "query":
		fail("invalid_request", 900144, "this emulator answers with response_mode=query only.")
		return
	case q.Get("code_challenge_method") != "S256":
		fail("invalid_request", 501491, "Invalid size of Code_Challenge parameter, or code_challenge_method is not S256.")
		return
	case !validChallenge(q.Get("code_challenge")):
		fail("invalid_request", 501491, "Invalid size of Code_Challenge parameter.")
		return
	case !strings.Contains(" "+q.Get("scope")+" ", " offline_access "):
		fail("invalid_request", 90009, "this emulator expects offline_access among the scopes.")
		return
	}
	if s.deny != "" {
		s.deny = ""
		fail("access_denied", 65004, "User declined to consent to access the app.")
		return
	}
	account := q.Get("login_hint")
	if account == "" {
		account = s.opts.Account
	}
	c := s.newToken("code")
	s.codes[c] = &code{grant: s.newGrant(account), clientID: s.ClientID, redirectURI: q.Get("redirect_uri"),
		challenge: q.Get("code_challenge"), scope: q.Get("scope"), expires: s.now().Add(10 * time.Minute)}
	back(url.Values{"code": {c}})
}

// validChallenge: a base64url SHA-256, 43 characters.
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

func page(w http.ResponseWriter, n int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, "AADSTS%d: %s\n", n, msg)
}

// token is POST /{tenant}/oauth2/v2.0/token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	ct := r.Header.Get("Content-Type")
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	perr := r.ParseForm()
	form := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := TokenRequest{GrantType: form.Get("grant_type"), Form: form}
	answer := func(status int, body map[string]any) {
		rec.Status = status
		if e, ok := body["error"].(string); ok {
			rec.Error = e
		}
		s.tokenReqs = append(s.tokenReqs, rec)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
	fail := func(status int, errCode string, n int, msg string) {
		answer(status, s.errorBody(errCode, n, msg))
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		fail(f.status, f.code, 50196, "The server is temporarily unable to service the request.")
		return
	}
	if r.PathValue("tenant") != s.Tenant {
		fail(400, "invalid_request", 90002, "Tenant '"+r.PathValue("tenant")+"' not found.")
		return
	}
	if perr != nil || !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		fail(400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	if form.Get("client_id") != s.ClientID {
		fail(400, "unauthorized_client", 700016, "Application with identifier '"+form.Get("client_id")+"' was not found in the directory.")
		return
	}
	if form.Get("client_secret") != s.ClientSecret {
		fail(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
		return
	}
	now := s.now()
	var g *grant
	scope := form.Get("scope")
	switch form.Get("grant_type") {
	case "authorization_code":
		c := s.codes[form.Get("code")]
		switch {
		case c == nil:
			fail(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
			return
		case c.redeemed:
			fail(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
			return
		case !now.Before(c.expires):
			fail(400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity.")
			return
		case form.Get("redirect_uri") != c.redirectURI:
			fail(400, "invalid_grant", 50148, "The redirect_uri does not match the one used in the authorization request.")
			return
		case form.Get("code_verifier") == "":
			fail(400, "invalid_request", 50148, "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.")
			return
		case challenge(form.Get("code_verifier")) != c.challenge:
			fail(400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
			return
		}
		c.redeemed = true
		g = c.grant
		if scope == "" {
			scope = c.scope
		}
	case "refresh_token":
		rt := s.refresh[form.Get("refresh_token")]
		switch {
		case rt == nil:
			fail(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
			return
		case rt.grant.revoked:
			fail(400, "invalid_grant", 700082, "The refresh token has expired due to inactivity.")
			return
		case rt.rotated:
			fail(400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity.")
			return
		}
		rt.rotated = true
		g = rt.grant
	default:
		fail(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+form.Get("grant_type")+"'.")
		return
	}
	at, newRT := s.newToken("at"), s.newToken("rt")
	s.access[at] = &accessToken{grant: g, expires: now.Add(s.opts.AccessTokenLifetime)}
	s.refresh[newRT] = &refreshToken{grant: g}
	body := map[string]any{
		"token_type": "Bearer", "scope": scope, "expires_in": int(s.opts.AccessTokenLifetime / time.Second),
		"ext_expires_in": int(s.opts.AccessTokenLifetime / time.Second), "access_token": at, "refresh_token": newRT,
	}
	if strings.Contains(" "+scope+" ", " openid ") {
		body["id_token"] = s.idToken(g, now)
	}
	answer(200, body)
}

func challenge(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func (s *Server) errorBody(errCode string, n int, msg string) map[string]any {
	ts := s.now().UTC().Format("2006-01-02 15:04:05Z")
	trace, corr := uuid(), uuid()
	return map[string]any{
		"error":             errCode,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", n, msg, trace, corr, ts),
		"error_codes":       []int{n},
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("%s/error?code=%d", s.URL, n),
	}
}

func uuid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// idToken is an RS256 JWT naming the grant's account, as Microsoft's v2.0
// ID tokens do (preferred_username, email, tid, aud, iss).
func (s *Server) idToken(g *grant, now time.Time) string {
	header, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": "emulator"})
	claims, _ := json.Marshal(map[string]any{
		"aud": s.ClientID, "iss": s.URL + "/" + s.Tenant + "/v2.0", "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(), "tid": s.Tenant, "ver": "2.0", "sub": fmt.Sprintf("subject-%d", g.id),
		"preferred_username": g.account, "email": g.account,
	})
	signing := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
	h := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, h[:])
	if err != nil {
		panic(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// introspect is POST /introspect (RFC 7662), as dovecot's oauth2 passdb
// calls it with introspection_mode = post.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	_ = r.ParseForm()
	tok := r.PostForm.Get("token")
	account, ok := s.ActiveAccessToken(tok)
	s.mu.Lock()
	s.introspected++
	exp := int64(0)
	if a := s.access[tok]; ok && a != nil {
		exp = a.expires.Unix()
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		_, _ = w.Write([]byte(`{"active":false}`))
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "email": account, "client_id": s.ClientID, "token_type": "Bearer", "exp": exp})
}
