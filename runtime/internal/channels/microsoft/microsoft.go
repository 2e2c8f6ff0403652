// Package microsoft is the adapter of Integrations of type "microsoft": a
// Microsoft 365 mailbox read over IMAP and written to over SMTP, both
// authenticated with SASL XOAUTH2 and OAuth 2.0 access tokens.
//
// The Integration's Secret holds the app registration's clientId and
// clientSecret. A tenant admin connects the mailbox from the runtime's
// settings page: the web layer keeps the PKCE verifier and state
// server-side, sends the browser to AuthorizeURL, and hands the code that
// comes back to Connect, which redeems it and stores the tokens through
// adapter.Deps.Tokens (the runtime's own Vault entry for the Integration).
// From then on the adapter refreshes the access token before it expires,
// storing each rotated refresh token with check-and-set before using the
// new access token (see tokenSource).
//
// Health, as reported to the operator and the admins' banner:
// ReauthorizationRequired when nothing is connected yet or the grant is
// gone (invalid_grant: expired, rotated out, revoked); AuthFailed when the
// token endpoint refuses the client (invalid_client) or the mail server
// refuses the token; Unreachable while the token endpoint or the mail
// server does not answer, retried with backoff; Connected otherwise.
package microsoft

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels/email"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

// Type is the Integration type this package serves.
const Type = "microsoft"

// Config keys of the Integration (spec.config).
const (
	// ConfigTenant is the Microsoft Entra tenant: its id, a verified
	// domain, or "organizations".
	ConfigTenant = "tenantId"
	// ConfigMailbox is the mailbox's address: the IMAP and SMTP user.
	ConfigMailbox = "mailbox"
	// ConfigAuthority overrides DefaultAuthority (tests, sovereign clouds).
	ConfigAuthority = "authorityURL"
	// ConfigIMAPAddr and ConfigSMTPAddr override the mail servers
	// (host:port).
	ConfigIMAPAddr = "imapAddr"
	ConfigSMTPAddr = "smtpAddr"
	// ConfigIMAPSecurity and ConfigSMTPSecurity say how each connection is
	// protected: tls (IMAP's default), starttls (SMTP's default), or none
	// (a test server on loopback only).
	ConfigIMAPSecurity = "imapSecurity"
	ConfigSMTPSecurity = "smtpSecurity"
	// ConfigCACertificate is a PEM CA trusted besides the system's roots
	// (a private CA in front of the servers, or a test server's).
	ConfigCACertificate = "caCertificate"
	// ConfigFolder is the folder read; INBOX when unset.
	ConfigFolder = "folder"
	// ConfigFromName is the display name of replies' sender.
	ConfigFromName = "fromName"
)

// Credential keys of the Integration's Secret.
const (
	CredClientID     = "clientId"
	CredClientSecret = "clientSecret"
	// CredRefreshToken is optional: a refresh token obtained elsewhere,
	// used only while the runtime's own tokens entry holds none.
	CredRefreshToken = "refreshToken"
)

// Default mail servers of Microsoft 365.
const (
	DefaultIMAPAddr = "outlook.office365.com:993"
	DefaultSMTPAddr = "smtp.office365.com:587"
)

// CallbackPath is where the authorize endpoint sends the browser back, on
// the workspace's public URL. It must be registered as a redirect URI of
// the app.
const CallbackPath = "/oauth/microsoft/callback"

// idleWait is how often a connection that needs an admin looks at its
// tokens entry again (another replica may have been connected).
const idleWait = 30 * time.Second

// maxBackoff bounds the wait between attempts while the token endpoint is
// unreachable.
const maxBackoff = 5 * time.Minute

func init() { adapter.Register(Type, New) }

// Adapter is one open microsoft Integration: an email.Engine that logs in
// with XOAUTH2, and the tokens it logs in with.
type Adapter struct {
	d       adapter.Deps
	mailbox string
	tokens  *tokenSource
	mail    *email.Engine
	// wake tells Run that a new connection was stored.
	wake chan struct{}
	// reconnected tells the mail side to log in again at once.
	reconnected chan struct{}

	mu     sync.Mutex
	closed bool
	oauth  *oauthClient
	// Health as the two halves of the adapter see it: the tokens and the
	// mail server. The worse one is reported.
	tokenHealth, mailHealth health
}

type health struct{ state, code, message string }

// New builds the adapter from its Integration (an adapter.Factory).
func New(d adapter.Deps) (adapter.Adapter, error) {
	cfg := d.Info.Config
	var missing []string
	for _, k := range []string{ConfigTenant, ConfigMailbox} {
		if strings.TrimSpace(cfg[k]) == "" {
			missing = append(missing, "config "+k)
		}
	}
	for _, k := range []string{CredClientID, CredClientSecret} {
		if d.Credentials[k] == "" {
			missing = append(missing, "credential "+k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the Integration lacks %s", strings.Join(missing, ", "))
	}
	if d.Tokens == nil {
		return nil, errors.New("the runtime gives this Integration no tokens entry to keep its OAuth tokens in")
	}
	authority := strings.TrimRight(d.ConfigURL(ConfigAuthority, DefaultAuthority), "/")
	if u, err := url.Parse(authority); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("config %s %q is not an http(s) URL", ConfigAuthority, authority)
	}
	client := d.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	if d.Log == nil {
		return nil, errors.New("no logger")
	}
	if d.Report == nil {
		d.Report = func(string, string, string) {}
	}
	oc := &oauthClient{authority: authority, tenant: strings.TrimSpace(cfg[ConfigTenant]),
		clientID: d.Credentials[CredClientID], clientSecret: d.Credentials[CredClientSecret], http: client}
	a := &Adapter{
		d:       d,
		mailbox: strings.TrimSpace(cfg[ConfigMailbox]),
		oauth:   oc,
		tokens: &tokenSource{store: d.Tokens, oauth: oc, now: d.Now, credVersion: d.Info.CredentialsVersion,
			seed: d.Credentials[CredRefreshToken]},
		wake:        make(chan struct{}, 1),
		reconnected: make(chan struct{}, 1),
	}
	opts, err := mailOptions(cfg, a.mailbox)
	if err != nil {
		return nil, err
	}
	opts.Auth = email.XOAuth2(a.mailbox, a.accessToken)
	md := d
	md.Credentials = nil
	md.Report = a.mailReport
	if a.mail, err = email.New(md, opts); err != nil {
		return nil, err
	}
	a.d.Credentials = nil // what is needed is copied above; the map is the Manager's
	return a, nil
}

// mailOptions reads the mail servers from the Integration's config.
func mailOptions(cfg map[string]string, mailbox string) (email.Options, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(cfg[k]); v != "" {
			return v
		}
		return def
	}
	o := email.Options{
		IMAP:        email.Server{Addr: get(ConfigIMAPAddr, DefaultIMAPAddr), Security: email.Security(strings.ToLower(get(ConfigIMAPSecurity, string(email.TLS))))},
		SMTP:        email.Server{Addr: get(ConfigSMTPAddr, DefaultSMTPAddr), Security: email.Security(strings.ToLower(get(ConfigSMTPSecurity, string(email.StartTLS))))},
		Mailbox:     get(ConfigFolder, "INBOX"),
		FromAddress: mailbox,
		FromName:    get(ConfigFromName, ""),
	}
	if strings.ContainsAny(o.FromName+o.FromAddress+o.Mailbox, "\r\n\x00") {
		return o, errors.New("mailbox, folder and fromName are one line each")
	}
	if pemCA := cfg[ConfigCACertificate]; strings.TrimSpace(pemCA) != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(pemCA)) {
			return o, fmt.Errorf("config %s holds no PEM certificate", ConfigCACertificate)
		}
		o.TLSConfig = &tls.Config{RootCAs: pool}
	}
	return o, nil
}

// accessToken is the mail engine's token source for each XOAUTH2 login. A
// grant that is gone, or a client the provider refuses, is an
// email.AuthError, which the engine reports and retries only slowly; an
// outage is an ordinary error, retried with backoff.
func (a *Adapter) accessToken(ctx context.Context) (string, error) {
	t, err := a.tokens.token(ctx)
	if err != nil {
		if h, retry := classify(err); !retry {
			return "", &email.AuthError{State: h.state, Code: h.code, Message: h.message}
		}
		return "", err
	}
	return t.Access, nil
}

// mailReport is what the mail engine found. A refused login is taken to
// mean the access token no longer works (revoked before its expiry): the
// next login refreshes it first.
func (a *Adapter) mailReport(state, code, message string) {
	if state == contract.HealthAuthFailed && a.tokens.distrust() {
		// Refresh now: if the grant is gone, the admins learn it at once
		// rather than at the token's expiry.
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
	a.setMailHealth(health{state, code, message})
}

// Name is the channel key (inbox.Channel).
func (a *Adapter) Name() string { return a.d.Key }

// Mailbox is the configured mailbox address.
func (a *Adapter) Mailbox() string { return a.mailbox }

// Account is the Microsoft account that connected the mailbox, as the ID
// token named it ("" before a connection). It differs from Mailbox when a
// delegate connected a shared mailbox.
func (a *Adapter) Account() string { return a.tokens.account() }

// AuthorizeURL is where a tenant admin's browser goes to connect the
// mailbox: the authorize endpoint with the app's client id, the redirect
// URI (the runtime's public URL + CallbackPath), the scopes, state and
// the S256 code challenge of the verifier the caller keeps server-side.
func (a *Adapter) AuthorizeURL(redirectURI, state, codeChallenge string) string {
	a.mu.Lock()
	oc := a.oauth
	a.mu.Unlock()
	if oc == nil {
		return ""
	}
	return oc.authorizeURL(redirectURI, state, codeChallenge, a.mailbox)
}

// ErrClosed: the adapter was closed (its Integration rotated or went).
var ErrClosed = errors.New("the integration was closed meanwhile; start the connection again")

// Connect completes a connection: it redeems the authorization code with
// its PKCE verifier and the client secret, stores the tokens in the
// runtime's Vault entry, and has Run use them. It returns the account that
// consented. Its errors hold no secret and may be shown to the admin: an
// *Error is the token endpoint's refusal.
func (a *Adapter) Connect(ctx context.Context, code, codeVerifier, redirectURI string) (account string, err error) {
	a.mu.Lock()
	oc := a.oauth
	a.mu.Unlock()
	if oc == nil {
		return "", ErrClosed
	}
	sent := a.d.Clock()
	resp, err := oc.redeem(ctx, code, codeVerifier, redirectURI)
	if err != nil {
		return "", err
	}
	t := fromResponse(resp, sent, "", a.d.Info.CredentialsVersion)
	if err := a.tokens.replace(ctx, t); err != nil {
		return "", err
	}
	a.d.Log.Info("mailbox connected", "account", t.Account)
	// What the mail servers said of the old grant no longer holds: the
	// engine reports again as it logs in (a refused SMTP login, say, would
	// otherwise stand until the next reply goes out).
	a.mu.Lock()
	a.mailHealth = health{}
	a.mu.Unlock()
	for _, c := range []chan struct{}{a.wake, a.reconnected} {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	return t.Account, nil
}

// Deliver sends an agent's reply over SMTP (inbox.Channel).
func (a *Adapter) Deliver(ctx context.Context, out inbox.Outbound) (string, error) {
	return a.mail.Deliver(ctx, out)
}

var _ inbox.AttachmentSender = (*Adapter)(nil)

// AttachmentLimits: replies carry files, as the mail engine sends them
// (inbox.AttachmentSender).
func (a *Adapter) AttachmentLimits() (int, int64) { return a.mail.AttachmentLimits() }

// Run syncs the mailbox and keeps the access token fresh until ctx ends.
func (a *Adapter) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.runTokens(ctx) }()
	go func() { defer wg.Done(); a.runMail(ctx) }()
	wg.Wait()
}

// runMail runs the mail engine, starting it afresh when the mailbox is
// connected anew: the engine waits minutes after a refused login, and an
// admin who just reconnected should not.
func (a *Adapter) runMail(ctx context.Context) {
	for ctx.Err() == nil {
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); a.mail.Run(mctx) }()
		select {
		case <-ctx.Done():
		case <-a.reconnected:
		case <-done: // closed
		}
		cancel()
		<-done
		a.mu.Lock()
		closed := a.closed
		a.mu.Unlock()
		if closed {
			return
		}
	}
}

// runTokens keeps the access token fresh and reports on the tokens until
// ctx ends.
func (a *Adapter) runTokens(ctx context.Context) {
	backoff := time.Second
	for {
		wait := a.refreshOnce(ctx, &backoff)
		if ctx.Err() != nil {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-a.wake:
			backoff = time.Second
		case <-t.C:
		}
		t.Stop()
	}
}

// refreshOnce makes sure of a fresh access token, reports what it found,
// and says how long to wait before the next look.
func (a *Adapter) refreshOnce(ctx context.Context, backoff *time.Duration) time.Duration {
	tok, err := a.tokens.token(ctx)
	if ctx.Err() != nil {
		return 0
	}
	if err == nil {
		*backoff = time.Second
		a.setTokenHealth(health{state: contract.HealthConnected})
		wait := tok.Expiry.Sub(a.d.Clock()) - RefreshSkew + time.Second
		return max(wait, time.Second)
	}
	h, retry := classify(err)
	a.setTokenHealth(h)
	if !retry {
		return idleWait
	}
	wait := *backoff + rand.N(*backoff/2+1)
	*backoff = min(*backoff*2, maxBackoff)
	return wait
}

// classify turns a token error into a health report, and says whether
// retrying soon may help.
func classify(err error) (health, bool) {
	var oe *Error
	switch {
	case errors.Is(err, ErrNotConnected):
		return health{contract.HealthReauthorizationRequired, "", "connect the mailbox from Settings"}, false
	case errors.As(err, &oe) && oe.GrantGone():
		return health{contract.HealthReauthorizationRequired, oe.Code, grantMessage(oe)}, false
	case errors.As(err, &oe) && oe.Temporary():
		return health{contract.HealthUnreachable, oe.Code, "the Microsoft token endpoint is unavailable; retrying: " + oe.Description}, true
	case errors.As(err, &oe):
		return health{contract.HealthAuthFailed, oe.Code, "Microsoft refused the app's credentials: " + oe.Error()}, false
	}
	return health{contract.HealthUnreachable, "vault", err.Error()}, true
}

func grantMessage(oe *Error) string {
	s := "the mailbox's authorization is no longer valid"
	if len(oe.Codes) > 0 {
		s += fmt.Sprintf(" (AADSTS%d)", oe.Codes[0])
	}
	return s + "; a tenant admin must reconnect it from Settings"
}

func (a *Adapter) setTokenHealth(h health) {
	a.mu.Lock()
	a.tokenHealth = h
	a.mu.Unlock()
	a.report()
}

func (a *Adapter) setMailHealth(h health) {
	a.mu.Lock()
	a.mailHealth = h
	a.mu.Unlock()
	a.report()
}

// severity orders states from good to bad, to report the worse of the two
// halves.
var severity = map[string]int{
	"": -1, contract.HealthConnected: 0, contract.HealthUnreachable: 1, contract.HealthMisconfigured: 2,
	contract.HealthAuthFailed: 3, contract.HealthReauthorizationRequired: 4,
}

// report sends the worse of the two halves' health; the tokens' on a tie.
// A grant that is gone comes first: it is the cause of whatever the mail
// server says, and the admin's to fix.
func (a *Adapter) report() {
	a.mu.Lock()
	h := a.tokenHealth
	if severity[a.mailHealth.state] > severity[h.state] {
		h = a.mailHealth
	}
	closed := a.closed
	a.mu.Unlock()
	if h.state != "" && !closed {
		a.d.Report(h.state, h.code, h.message)
	}
}

// Close drops the client secret and every token, and ends the IMAP session.
func (a *Adapter) Close() {
	a.mu.Lock()
	a.closed = true
	a.oauth = nil
	a.mu.Unlock()
	a.mail.Close()
	a.tokens.drop()
	a.tokens.oauth.forget()
}

// Credentials lists the secrets the adapter still holds.
func (a *Adapter) Credentials() []string {
	a.mu.Lock()
	oc := a.oauth
	a.mu.Unlock()
	var out []string
	if oc != nil && oc.secret() != "" {
		out = append(out, oc.secret())
	}
	out = append(out, a.mail.Credentials()...)
	return append(out, a.tokens.secrets()...)
}
