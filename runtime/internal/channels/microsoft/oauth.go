package microsoft

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultAuthority is the Microsoft identity platform's public endpoint.
const DefaultAuthority = "https://login.microsoftonline.com"

// Scopes are what a connection asks for: IMAP and SMTP as the signed-in
// user, a refresh token (offline_access), and the ID token's openid and
// email, which name the account that consented. The mail scopes belong to
// one resource (outlook.office.com), as a token request must.
var Scopes = []string{
	"https://outlook.office.com/IMAP.AccessAsUser.All",
	"https://outlook.office.com/SMTP.Send",
	"offline_access", "openid", "email",
}

// maxTokenResponse bounds what is read of a token endpoint answer: a real
// one is a few kilobytes (the ID token is the largest part).
const maxTokenResponse = 256 << 10

// oauthClient talks to one tenant's authorize and token endpoints as one
// confidential client.
type oauthClient struct {
	authority string // e.g. https://login.microsoftonline.com, no trailing slash
	tenant    string
	clientID  string
	http      *http.Client

	mu           sync.Mutex
	clientSecret string
}

// secret returns the client secret, "" once forgotten.
func (c *oauthClient) secret() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clientSecret
}

// forget drops the client secret: requests fail from then on.
func (c *oauthClient) forget() {
	c.mu.Lock()
	c.clientSecret = ""
	c.mu.Unlock()
}

func (c *oauthClient) endpoint(name string) string {
	return c.authority + "/" + url.PathEscape(c.tenant) + "/oauth2/v2.0/" + name
}

// authorizeURL is where a tenant admin's browser goes to connect the
// mailbox. loginHint pre-fills the account (the mailbox), "" for none.
func (c *oauthClient) authorizeURL(redirectURI, state, codeChallenge, loginHint string) string {
	q := url.Values{
		"client_id":             {c.clientID},
		"response_type":         {"code"},
		"redirect_uri":          {redirectURI},
		"response_mode":         {"query"},
		"scope":                 {strings.Join(Scopes, " ")},
		"state":                 {state},
		"code_challenge":        {codeChallenge},
		"code_challenge_method": {"S256"},
	}
	if loginHint != "" {
		q.Set("login_hint", loginHint)
	}
	return c.endpoint("authorize") + "?" + q.Encode()
}

// redeem exchanges an authorization code, with its PKCE verifier.
func (c *oauthClient) redeem(ctx context.Context, code, verifier, redirectURI string) (*tokenResponse, error) {
	return c.token(ctx, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
	})
}

// refresh redeems a refresh token. The answer carries a new refresh token
// that replaces it.
func (c *oauthClient) refresh(ctx context.Context, refreshToken string) (*tokenResponse, error) {
	return c.token(ctx, url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
	})
}

func (c *oauthClient) token(ctx context.Context, form url.Values) (*tokenResponse, error) {
	secret := c.secret()
	if secret == "" {
		return nil, &Error{Code: "closed", Description: "the integration was closed"}
	}
	form.Set("client_id", c.clientID)
	form.Set("client_secret", secret)
	form.Set("scope", strings.Join(Scopes, " "))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint("token"), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, &Error{Code: "invalid_request", Description: "the token endpoint URL does not parse"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		// The URL holds no secret (they are in the body), but a transport
		// error is reported by kind only all the same.
		return nil, &Error{Status: 0, Code: "unreachable", Description: transportError(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil {
		return nil, &Error{Status: resp.StatusCode, Code: "unreachable", Description: "reading the token endpoint's answer failed"}
	}
	if len(body) > maxTokenResponse {
		return nil, &Error{Status: resp.StatusCode, Code: "invalid_response", Description: "the token endpoint's answer is too large"}
	}
	return parseTokenResponse(resp.StatusCode, resp.Header.Get("Content-Type"), body)
}

// transportError names a network failure without its URL.
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "the token endpoint did not answer in time"
	}
	return "the token endpoint is unreachable: " + err.Error()
}

// tokenResponse is a successful token endpoint answer.
type tokenResponse struct {
	TokenType    string
	Scope        string
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
	IDToken      string
}

// Error is a token endpoint's refusal, or a failure to reach it. It holds
// the provider's error code and description, never a token or secret.
type Error struct {
	// Status is the HTTP status, 0 when nothing answered.
	Status int
	// Code is the OAuth error ("invalid_grant", "invalid_client",
	// "temporarily_unavailable", ...), or "unreachable" and
	// "invalid_response" for failures of ours to get a usable answer.
	Code string
	// Codes are Microsoft's AADSTS numbers (error_codes), e.g. 70008.
	Codes []int
	// Description is the provider's error_description, cut short.
	Description string
}

func (e *Error) Error() string {
	s := "token endpoint: " + e.Code
	if len(e.Codes) > 0 && !strings.HasPrefix(e.Description, "AADSTS") {
		s += fmt.Sprintf(" (AADSTS%d)", e.Codes[0])
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Temporary says whether trying again later may work: a 5xx, a 429,
// temporarily_unavailable, or no answer at all.
func (e *Error) Temporary() bool {
	return e.Status == 0 || e.Status >= 500 || e.Status == http.StatusTooManyRequests ||
		e.Code == "temporarily_unavailable" || e.Code == "unreachable"
}

// GrantGone says whether the grant itself is gone (expired, rotated out,
// revoked, consent withdrawn): only a new connection helps.
func (e *Error) GrantGone() bool {
	return e.Code == "invalid_grant" || e.Code == "interaction_required"
}

// maxDescription bounds the provider's description kept in an Error, which
// reaches health reports and the settings page.
const maxDescription = 200

// parseTokenResponse reads a token endpoint answer. A 200 must carry an
// access token, a refresh token (offline_access was asked for) and a
// positive lifetime; anything else is an *Error. Microsoft sends
// expires_in as a number (v2.0), older endpoints as a string: both are
// read.
func parseTokenResponse(status int, contentType string, body []byte) (*tokenResponse, error) {
	var raw struct {
		TokenType    string          `json:"token_type"`
		Scope        string          `json:"scope"`
		ExpiresIn    json.RawMessage `json:"expires_in"`
		AccessToken  string          `json:"access_token"`
		RefreshToken string          `json:"refresh_token"`
		IDToken      string          `json:"id_token"`

		Error       string `json:"error"`
		Description string `json:"error_description"`
		Codes       []int  `json:"error_codes"`
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if err := json.Unmarshal(body, &raw); err != nil || (mt != "" && mt != "application/json") {
		code := "invalid_response"
		if status >= 500 || status == http.StatusTooManyRequests {
			code = "temporarily_unavailable"
		}
		return nil, &Error{Status: status, Code: code, Description: fmt.Sprintf("the token endpoint answered %d without a JSON body", status)}
	}
	if status != http.StatusOK || raw.Error != "" {
		code := raw.Error
		if code == "" {
			code = "invalid_response"
		}
		return nil, &Error{Status: status, Code: printable(code, 64), Codes: firstCodes(raw.Codes), Description: shortDescription(raw.Description)}
	}
	if raw.AccessToken == "" || raw.RefreshToken == "" {
		return nil, &Error{Status: status, Code: "invalid_response", Description: "the token endpoint's answer lacks an access or refresh token"}
	}
	if raw.TokenType != "" && !strings.EqualFold(raw.TokenType, "Bearer") {
		return nil, &Error{Status: status, Code: "invalid_response", Description: "the token endpoint issued a token that is not a bearer token"}
	}
	secs, ok := parseExpiresIn(raw.ExpiresIn)
	if !ok {
		return nil, &Error{Status: status, Code: "invalid_response", Description: "the token endpoint's answer has no usable expires_in"}
	}
	return &tokenResponse{TokenType: raw.TokenType, Scope: raw.Scope, AccessToken: raw.AccessToken, RefreshToken: raw.RefreshToken,
		ExpiresIn: time.Duration(secs) * time.Second, IDToken: raw.IDToken}, nil
}

// parseExpiresIn reads a lifetime in seconds, as a number or a string,
// between 1 s and a day.
func parseExpiresIn(m json.RawMessage) (int64, bool) {
	s := strings.TrimSpace(string(m))
	if unq, err := strconv.Unquote(s); err == nil {
		s = unq
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > 86400 {
		return 0, false
	}
	return n, true
}

func firstCodes(c []int) []int {
	if len(c) > 4 {
		c = c[:4]
	}
	return c
}

// shortDescription keeps the first line of Microsoft's description (the
// AADSTS sentence; trace and correlation ids follow on their own lines).
func shortDescription(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return printable(s, maxDescription)
}

// printable keeps at most n bytes of s's printable ASCII, for reports.
func printable(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= n {
			break
		}
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// idTokenAccount reads the account an ID token names: preferred_username,
// else email, else upn. The token came straight from the token endpoint
// over TLS, so its signature is not checked (OpenID Connect Core 3.1.3.7);
// the account is shown to admins and never used to authorise anything.
func idTokenAccount(idToken string) string {
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		PreferredUsername string `json:"preferred_username"`
		Email             string `json:"email"`
		UPN               string `json:"upn"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	for _, v := range []string{claims.PreferredUsername, claims.Email, claims.UPN} {
		if v != "" {
			return printable(v, 254)
		}
	}
	return ""
}

// XOAUTH2 is the SASL XOAUTH2 initial response (undecoded: the IMAP and
// SMTP clients base64 it): "user=" + user + ^A + "auth=Bearer " + token +
// ^A^A.
func XOAUTH2(user, accessToken string) []byte {
	return []byte("user=" + user + "\x01auth=Bearer " + accessToken + "\x01\x01")
}
