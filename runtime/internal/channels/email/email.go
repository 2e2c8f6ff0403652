// Package email is the email channel: it reads a mailbox over IMAP into the
// inbox and sends agents' replies over SMTP.
//
// Engine does the work for both email Integration types: "imap" (this
// package's factory, a password) and "microsoft" (package microsoft, which
// builds an Engine with XOAuth2 and its own token source).
//
// Sync. Each mailbox's position is (UIDVALIDITY, last UID) in the
// email_sync table. A session selects the mailbox read-only, fetches
// `UID FETCH <last+1>:*` (keeping only UIDs above last: the range can
// return the top message) and stores each mail through inbox.Ingest,
// deduplicated on its Message-ID, then waits with IDLE (or polls with NOOP
// every PollInterval where IDLE is missing) and fetches again when the
// mailbox grows. A new UIDVALIDITY voids the position: the mailbox is read
// again from the start, and deduplication keeps it from storing anything
// twice. A lost connection is retried with backoff, reported as
// Unreachable meanwhile; a refused login is AuthFailed.
//
// Threading. Every mail's Message-ID, In-Reply-To and References are kept
// (email_messages). A mail joins the conversation of any message it
// references; failing that, the most recent unresolved conversation of the
// same sender on the channel with the same normalised subject ("Re: Order
// 12" is "order 12") within SubjectWindow; failing that, it opens a new
// conversation, so two subjects from one sender are two conversations.
//
// Replies go over SMTP with a Message-ID generated once per message (a
// retry sends the same one), In-Reply-To the conversation's last inbound
// mail, and References its References plus that mail.
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

// Security is how a connection is protected.
type Security string

// The securities.
const (
	// TLS is implicit TLS from the first byte (IMAP 993, SMTP 465).
	TLS Security = "tls"
	// StartTLS upgrades a plaintext connection, and fails if the server
	// does not offer it (IMAP 143, SMTP 587).
	StartTLS Security = "starttls"
	// None sends everything, the password too, in the clear: for servers
	// on a trusted local network only.
	None Security = "none"
)

// Server is one IMAP or SMTP server.
type Server struct {
	// Addr is host:port.
	Addr     string
	Security Security
}

// Options configure an Engine.
type Options struct {
	IMAP, SMTP Server
	// Auth logs in to both.
	Auth *Auth
	// Mailbox is the folder read; "INBOX" when empty.
	Mailbox string
	// FromAddress and FromName are the sender of replies.
	FromAddress, FromName string
	// SaveSent appends a copy of every reply sent to the sent-mail
	// folder over IMAP, so the mailbox shows the team's answers to anyone
	// reading it in a mail client. SentMailbox names the folder; when
	// empty, it is the one the server marks \Sent (RFC 6154), and without
	// one no copy is kept (logged once). Servers that file what goes out
	// through their SMTP themselves (Gmail, Exchange Online) need it off.
	SaveSent    bool
	SentMailbox string
	// TLSConfig is the base TLS configuration (RootCAs); nil trusts the
	// system's roots. ServerName is set per server.
	TLSConfig *tls.Config

	// PollInterval is how often a server without IDLE is polled; 30 s
	// when zero.
	PollInterval time.Duration
	// IdleRestart is how long one IDLE lasts at most (RFC 2177 asks for at
	// most 29 min), and one session too: the engine then logs out and
	// starts afresh, which is how it finds a mailbox recreated under it
	// (a new UIDVALIDITY that an open session may never be told). 29 min
	// when zero.
	IdleRestart time.Duration
	// NoIdle polls even where the server offers IDLE.
	NoIdle bool
	// RetryMin and RetryMax bound the backoff between connection attempts
	// (1 s and 2 min when zero); AuthRetry is the wait after a refused
	// login (5 min when zero), so that a wrong password does not lock the
	// account.
	RetryMin, RetryMax, AuthRetry time.Duration
	// MaxMessage is the largest mail fetched whole; a larger one is stored
	// from its header with a note (25 MiB when zero).
	MaxMessage int64
	// Limits bound attachments (DefaultLimits when zero).
	Limits Limits
	// SubjectWindow is how recent a conversation must be for the subject
	// fallback of threading to join it; 30 days when zero.
	SubjectWindow time.Duration
	// FetchBatch is how many mails are fetched and stored per round trip;
	// 50 when zero.
	FetchBatch int
}

func (o *Options) defaults() {
	if o.Mailbox == "" {
		o.Mailbox = "INBOX"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PollInterval, 30*time.Second)
	def(&o.IdleRestart, 29*time.Minute)
	def(&o.RetryMin, time.Second)
	def(&o.RetryMax, 2*time.Minute)
	def(&o.AuthRetry, 5*time.Minute)
	def(&o.SubjectWindow, 30*24*time.Hour)
	if o.MaxMessage <= 0 {
		o.MaxMessage = 25 << 20
	}
	if o.Limits.MaxAttachment <= 0 {
		o.Limits.MaxAttachment = DefaultLimits.MaxAttachment
	}
	if o.Limits.MaxAttachments <= 0 {
		o.Limits.MaxAttachments = DefaultLimits.MaxAttachments
	}
	if o.FetchBatch <= 0 {
		o.FetchBatch = 50
	}
}

// Engine is an email channel: an adapter.Sender.
type Engine struct {
	d    adapter.Deps
	opts Options
	log  *slog.Logger

	wake   chan struct{}
	synced atomic.Bool // a first sync was logged

	mu      sync.Mutex
	closed  bool
	conn    *imapclient.Client // the session's, to end it on Close
	sentBox string             // the \Sent folder, once found

	noSentLogged atomic.Bool // "no sent-mail folder" was logged

	health health
}

var _ adapter.Sender = (*Engine)(nil)

// New returns an Engine for d. It checks the options and connects to
// nothing: Run does.
func New(d adapter.Deps, opts Options) (*Engine, error) {
	opts.defaults()
	if opts.Auth == nil {
		return nil, errors.New("email: no login (Options.Auth)")
	}
	for _, s := range []struct {
		name string
		srv  Server
	}{{"IMAP", opts.IMAP}, {"SMTP", opts.SMTP}} {
		if _, _, err := net.SplitHostPort(s.srv.Addr); err != nil {
			return nil, fmt.Errorf("email: the %s server %q is not host:port", s.name, s.srv.Addr)
		}
		switch s.srv.Security {
		case TLS, StartTLS, None:
		default:
			return nil, fmt.Errorf("email: the %s security %q is not tls, starttls or none", s.name, s.srv.Security)
		}
	}
	if normalizeAddress(opts.FromAddress) == "" {
		return nil, fmt.Errorf("email: the sender address %q is not an email address", opts.FromAddress)
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Report == nil {
		d.Report = func(string, string, string) {}
	}
	e := &Engine{d: d, opts: opts, log: d.Log.With("channel", d.Key), wake: make(chan struct{}, 1)}
	e.health.report = d.Report
	return e, nil
}

// Name is the channel key.
func (e *Engine) Name() string { return e.d.Key }

// Credentials are the secrets the Engine holds: the password, until Close.
func (e *Engine) Credentials() []string {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil
	}
	return e.opts.Auth.secrets()
}

// Close drops the credentials and ends the IMAP session.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	c := e.conn
	e.mu.Unlock()
	e.opts.Auth.clear()
	if c != nil {
		c.Close()
	}
}

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// tlsConfig is the base configuration for host.
func (e *Engine) tlsConfig(addr string) *tls.Config {
	var c *tls.Config
	if e.opts.TLSConfig != nil {
		c = e.opts.TLSConfig.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	if c.ServerName == "" {
		c.ServerName, _, _ = net.SplitHostPort(addr)
	}
	return c
}

// Sides of the health report.
const (
	sideIMAP = iota
	sideSMTP
)

// health combines what IMAP and SMTP found into one report: the worse of
// the two, so that a working IMAP does not hide a refused SMTP login.
type health struct {
	mu     sync.Mutex
	sides  [2]*status
	last   status
	report func(state, code, message string)
}

type status struct{ state, code, message string }

var severity = map[string]int{
	contract.HealthConnected: 0, contract.HealthUnreachable: 1, contract.HealthMisconfigured: 2,
	contract.HealthReauthorizationRequired: 3, contract.HealthAuthFailed: 4,
}

func (h *health) set(side int, state, code, message string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sides[side] = &status{state, code, message}
	var worst *status
	for _, s := range h.sides {
		if s != nil && (worst == nil || severity[s.state] > severity[worst.state]) {
			worst = s
		}
	}
	if *worst == h.last {
		return
	}
	h.last = *worst
	h.report(worst.state, worst.code, worst.message)
}

// classify says how a failed session or delivery is reported.
func classify(err error) status {
	var ae *AuthError
	if errors.As(err, &ae) {
		return status{ae.State, ae.Code, clip(ae.Message)}
	}
	var me *mailboxError
	if errors.As(err, &me) {
		return status{contract.HealthMisconfigured, me.code, me.Error()}
	}
	var (
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		cv *tls.CertificateVerificationError
	)
	if errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &cv) {
		return status{contract.HealthMisconfigured, "TLS", clip("the server's TLS certificate is not trusted: " + err.Error())}
	}
	if errors.Is(err, errNoStartTLS) {
		return status{contract.HealthMisconfigured, "STARTTLS", err.Error()}
	}
	return status{contract.HealthUnreachable, "", clip(err.Error())}
}

type mailboxError struct {
	mailbox, code, text string
}

func (e *mailboxError) Error() string {
	return fmt.Sprintf("the mailbox %q cannot be opened: %s", e.mailbox, e.text)
}

var errNoStartTLS = errors.New("the server does not offer STARTTLS")

// Deliver sends an agent's reply (see smtp.go).
func (e *Engine) Deliver(ctx context.Context, out inbox.Outbound) (string, error) {
	if e.isClosed() {
		return "", errClosed
	}
	return e.deliver(ctx, out)
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}
