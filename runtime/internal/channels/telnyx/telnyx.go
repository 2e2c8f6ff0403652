// Package telnyx is the Telnyx SMS channel: inbound messages and delivery
// receipts arrive as Ed25519-signed webhooks, replies leave through the
// Messaging v2 API, and the composer shows how many parts (segments) a
// reply is billed as.
//
// Integration type "telnyx". Config: phoneNumber (E.164, the number this
// Integration sends from and answers on), messagingProfileId (optional),
// apiBaseURL (optional, default https://api.telnyx.com). Credentials:
// apiKey, and publicKey, the account's webhook public key (base64 of the
// 32-byte Ed25519 key).
package telnyx

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels/sms"
)

// Type is the Integration type.
const Type = "telnyx"

// DefaultBaseURL is Telnyx's API; config apiBaseURL overrides it.
const DefaultBaseURL = "https://api.telnyx.com"

// Config and credential keys.
const (
	ConfigPhoneNumber = "phoneNumber"
	ConfigProfileID   = "messagingProfileId"
	ConfigBaseURL     = "apiBaseURL"
	CredAPIKey        = "apiKey"
	CredPublicKey     = "publicKey"
)

func init() { adapter.Register(Type, New) }

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// Adapter is one Telnyx Integration.
type Adapter struct {
	d         adapter.Deps
	base      string
	phone     string
	profileID string
	client    *http.Client

	mu     sync.RWMutex
	apiKey string
	pubB64 string
	pub    ed25519.PublicKey
	closed bool
}

var (
	_ adapter.Sender          = (*Adapter)(nil)
	_ adapter.WebhookReceiver = (*Adapter)(nil)
)

// New builds the adapter. A config or credential that cannot work is an
// error naming the key, never its value.
func New(d adapter.Deps) (adapter.Adapter, error) {
	a := &Adapter{d: d, client: d.HTTP}
	if a.client == nil {
		a.client = &http.Client{Timeout: 30 * time.Second}
	}
	a.phone = strings.TrimSpace(d.Info.Config[ConfigPhoneNumber])
	if !e164.MatchString(a.phone) {
		return nil, errors.New("config phoneNumber must be an E.164 number such as +15550100")
	}
	a.profileID = strings.TrimSpace(d.Info.Config[ConfigProfileID])
	a.base = strings.TrimRight(d.ConfigURL(ConfigBaseURL, DefaultBaseURL), "/")
	if !strings.HasPrefix(a.base, "https://") && !strings.HasPrefix(a.base, "http://") {
		return nil, errors.New("config apiBaseURL must be an http(s) URL")
	}
	a.apiKey = strings.TrimSpace(d.Credentials[CredAPIKey])
	if a.apiKey == "" {
		return nil, errors.New("credentials need apiKey")
	}
	pub, err := ParsePublicKey(d.Credentials[CredPublicKey])
	if err != nil {
		return nil, err
	}
	a.pub, a.pubB64 = pub, d.Credentials[CredPublicKey]
	return a, nil
}

// ParsePublicKey decodes Telnyx's webhook public key: standard base64 of
// the 32 raw bytes of an Ed25519 key. The error never repeats the value.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("credential publicKey must be the base64 of a 32-byte Ed25519 public key (Telnyx portal, Keys & Credentials, Public Key)")
	}
	return ed25519.PublicKey(raw), nil
}

// Name is the channel key, "telnyx/<integration>".
func (a *Adapter) Name() string { return a.d.Key }

// Close drops the credentials.
func (a *Adapter) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed, a.apiKey, a.pubB64, a.pub = true, "", "", nil
}

// Credentials returns the secrets still held; nil after Close.
func (a *Adapter) Credentials() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return nil
	}
	return []string{a.apiKey, a.pubB64}
}

func (a *Adapter) key() (string, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.apiKey, !a.closed
}

func (a *Adapter) publicKey() (ed25519.PublicKey, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.pub, !a.closed
}

func (a *Adapter) report(state, code, message string) {
	if a.d.Report != nil {
		a.d.Report(state, code, message)
	}
}

// Segments says how many parts body is billed as, in which encoding
// (inbox.Segmented). Line breaks are counted as sent: LF (Deliver sends a
// browser's CR LF as LF).
func (a *Adapter) Segments(body string) (int, string) {
	info := sms.Count(normalize(body))
	return info.Parts, info.Encoding
}

// normalize turns CR LF (what browsers submit for a line break) into LF,
// which is one septet cheaper and what phones show.
func normalize(body string) string { return strings.ReplaceAll(body, "\r\n", "\n") }

// Run checks the API key once at start, by reading the messaging profile,
// so that a wrong key shows before anyone replies. Without a profile id the
// first send is the check. An unreachable API is tried again with backoff.
func (a *Adapter) Run(ctx context.Context) {
	if a.profileID == "" {
		return
	}
	wait := 5 * time.Second
	for {
		retry := a.checkProfile(ctx)
		if !retry {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Minute)
	}
}

// checkProfile reads the messaging profile and reports what it found; it
// says whether to try again.
func (a *Adapter) checkProfile(ctx context.Context) (retry bool) {
	key, ok := a.key()
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/v2/messaging_profiles/"+pathEscape(a.profileID), nil)
	if err != nil {
		a.report(contract.HealthMisconfigured, "", "config apiBaseURL is not a valid URL")
		return false
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		if ctx.Err() != nil && ctx.Err() != context.DeadlineExceeded {
			return false
		}
		a.report(contract.HealthUnreachable, "", "the Telnyx API did not answer")
		return true
	}
	defer resp.Body.Close()
	apiErr := readError(resp)
	switch {
	case resp.StatusCode == http.StatusOK:
		a.report(contract.HealthConnected, "", "")
		return false
	case apiErr.auth():
		a.report(contract.HealthAuthFailed, apiErr.codeOr(resp.StatusCode), "Telnyx refused the API key: "+apiErr.summary())
		return false
	case resp.StatusCode == http.StatusNotFound:
		a.report(contract.HealthMisconfigured, apiErr.Code.String(), "messaging profile "+a.profileID+" was not found in this Telnyx account")
		return false
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		a.report(contract.HealthUnreachable, apiErr.Code.String(), "the Telnyx API answered "+resp.Status)
		return true
	}
	a.report(contract.HealthMisconfigured, apiErr.Code.String(), fmt.Sprintf("reading messaging profile %s: %s", a.profileID, apiErr.summary()))
	return false
}
