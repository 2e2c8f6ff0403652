// Package adapter is what every channel or service adapter (WhatsApp,
// Messenger, Telnyx, email, Microsoft, Shopify, Google Places) implements,
// and what it is given. Package integrations runs the adapters: it builds
// one per connected Integration from the manifest the operator writes to
// Vault (runtime/contract), routes webhooks to it, rebuilds it when its
// credentials rotate and closes it when the Integration goes.
//
// An adapter holds its credentials in memory only, and only while it is
// open: Close must drop every reference to them (package integrations
// checks this in its tests through Credentials).
package adapter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Adapter is one open Integration.
type Adapter interface {
	// Run does the adapter's background work (an IMAP sync, a token
	// refresh, a template sync) until ctx ends. It returns nil at once if
	// there is none. Errors are reported through Deps.Report, not returned:
	// Run returns only when ctx ends.
	Run(ctx context.Context)
	// Close drops the credentials. The adapter is not used afterwards.
	Close()
	// Credentials returns the secret values the adapter still holds, for
	// the test that proves Close dropped them. After Close it returns nil.
	Credentials() []string
}

// Sender is an adapter that carries agents' replies out: a channel.
// inbox.Channel.Name is the channel key, contract.ChannelKey(type, name).
type Sender interface {
	Adapter
	inbox.Channel
}

// WebhookReceiver is an adapter with inbound webhooks, served at
// contract.WebhookPath(type, name). Package integrations reads the body,
// at most MaxWebhookBody bytes (a longer one is refused with 413 before the
// adapter sees it), and passes the raw bytes: signatures are over them.
type WebhookReceiver interface {
	Adapter
	// ServeWebhook answers one delivery. A GET is a provider's verification
	// handshake (Meta's hub.challenge). It returns the status and body to
	// answer with; an error whose Reject is set is a refused delivery
	// (counted in a metric and logged without its body). A returned error
	// that is not a Reject is a failure on our side: 500, so the provider
	// retries.
	ServeWebhook(ctx context.Context, r *http.Request, body []byte) (status int, contentType string, answer []byte, err error)
}

// MaxWebhookBody is the largest webhook body accepted. WhatsApp batches up
// to 1,000 updates in one POST, which stays well under it.
const MaxWebhookBody = 1 << 20

// Reject is a webhook refused for what it is, not for a fault of ours.
type Reject struct {
	// Status is the 4xx to answer.
	Status int
	// Reason is a metric label: signature, timestamp, malformed, verify,
	// unsupported.
	Reason string
	// Detail is for the log; it never holds the body or a secret.
	Detail string
}

func (r *Reject) Error() string { return fmt.Sprintf("webhook rejected (%s): %s", r.Reason, r.Detail) }

// Rejected is a Reject as an error.
func Rejected(status int, reason, detail string) error {
	return &Reject{Status: status, Reason: reason, Detail: detail}
}

// Common reject reasons (metric labels).
const (
	RejectSignature = "signature"
	RejectTimestamp = "timestamp"
	RejectMalformed = "malformed"
	RejectVerify    = "verify"
	RejectTooLarge  = "too_large"
)

// Permanent marks a delivery error that retrying cannot fix (outside the
// messaging window, a number that is not E.164, a revoked grant): the
// outbox gives up at once and the message shows it as failed.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

type permanent struct{ error }

func (p *permanent) Unwrap() error { return p.error }

// IsPermanent says whether err is, or wraps, a Permanent error.
func IsPermanent(err error) bool {
	var p *permanent
	return errors.As(err, &p)
}

// Unconfirmed marks a send whose outcome is unknown: the request may have
// reached the provider (the connection broke, or the wait ended, after it
// was written), and the provider has no idempotency key, so sending again
// may deliver the message twice. The outbox does not repeat it: the
// message becomes "unconfirmed" and an agent decides whether to send it
// again (the Retry button).
func Unconfirmed(err error) error {
	if err == nil {
		return nil
	}
	return &unconfirmed{err}
}

type unconfirmed struct{ error }

func (u *unconfirmed) Unwrap() error { return u.error }

// IsUnconfirmed says whether err is, or wraps, an Unconfirmed error.
func IsUnconfirmed(err error) bool {
	var u *unconfirmed
	return errors.As(err, &u)
}

// SendError classifies an error from http.Client.Do for a send the provider
// cannot deduplicate. An error raised before the request left this process
// (the dial, the DNS lookup, the TLS handshake) is returned as it is, and
// the outbox retries it; any other may have reached the provider and is
// Unconfirmed.
func SendError(err error) error {
	if err == nil || notSent(err) {
		return err
	}
	return Unconfirmed(err)
}

// notSent says whether a transport error happened before any byte of the
// request was written.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var hdr tls.RecordHeaderError
	var alert tls.AlertError
	var unknownCA x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &dns) || errors.As(err, &cert) || errors.As(err, &hdr) || errors.As(err, &alert) ||
		errors.As(err, &unknownCA) || errors.As(err, &host) || errors.As(err, &invalid)
}

// Deps is what an adapter is built from.
type Deps struct {
	// Name is the Integration's name, Key its channel key
	// (contract.ChannelKey(type, name)).
	Name, Key string
	Info      contract.ChannelInfo
	// Credentials are the keys of the Integration's Vault entry, at
	// Info.CredentialsVersion.
	Credentials map[string]string
	// Tokens reads and writes the runtime's own tokens entry (types in
	// contract.TypesWithTokens only; nil otherwise).
	Tokens TokenStore
	Inbox  *inbox.Service
	Store  *store.Store
	Log    *slog.Logger
	// HTTP calls the provider. Its base URL is the provider's public one
	// unless the Integration's config sets apiBaseURL (tests, proxies).
	HTTP *http.Client
	// Report records what the adapter found (see contract.ChannelHealth):
	// Connected once it authenticated, AuthFailed with the provider's code
	// when it was refused. It is cheap to call often: only changes are
	// written to Vault.
	Report func(state, code, message string)
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// PublicURL is where the workspace is reached from outside
	// (SWITCHBOARD_PUBLIC_URL): links to files a provider fetches (MMS)
	// start with it.
	PublicURL string
}

// Clock returns d.Now or time.Now.
func (d *Deps) Clock() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// ConfigURL returns the config key's value, or def when it is unset.
func (d *Deps) ConfigURL(key, def string) string {
	if v := d.Info.Config[key]; v != "" {
		return v
	}
	return def
}

// TokenStore is the runtime's own Vault entry for an Integration's tokens.
type TokenStore interface {
	// Read returns the tokens and their version; nil data if none.
	Read(ctx context.Context) (map[string]string, int, error)
	// Write replaces them if the entry is still at version cas (0: must
	// not exist), and returns the new version. A lost race is ErrConflict.
	Write(ctx context.Context, data map[string]string, cas int) (int, error)
}

// ErrConflict is a lost check-and-set race.
var ErrConflict = errors.New("changed concurrently")

// Factory builds an adapter for one Integration. A config or credential
// that cannot work is an error, reported as Misconfigured.
type Factory func(d Deps) (Adapter, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a type's factory known; adapters call it from init.
func Register(integrationType string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	factories[integrationType] = f
}

// Lookup returns a type's factory.
func Lookup(integrationType string) (Factory, bool) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := factories[integrationType]
	return f, ok
}

// Types lists the registered types.
func Types() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(factories))
	for t := range factories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
