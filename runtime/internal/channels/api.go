// Package channels connects the inbox to the outside. It holds the built-in
// API channel (an inbox.Channel that posts agents' replies to the
// workspace's signed webhook), the HTTP client those posts go out with, and
// the outbox worker that delivers replies through their channel.
package channels

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// API is the built-in channel: messages arrive through the authenticated
// inbound API, and agents' replies go to the workspace's webhook, signed
// with HMAC-SHA256 (see inbox.Sign).
type API struct {
	Store *store.Store
	// Client delivers replies; nil means NewWebhookClient(false), which
	// reaches public addresses only.
	Client *http.Client
	Now    func() time.Time
}

var defaultClient = NewWebhookClient(false)

// SignatureHeader carries the webhook signature.
const SignatureHeader = "X-Switchboard-Signature"

// NewSecret returns a fresh webhook secret.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b)
}

// Settings returns the channel's webhook, and its signing secret, which is
// made on first use.
func (a *API) Settings(ctx context.Context) (*store.APIChannel, error) {
	return a.Store.APIChannelSettings(ctx, a.Store.Pool, NewSecret)
}

// RevealSecret returns the webhook signing secret, and records in the audit
// log, in the same transaction, that actor saw it.
func (a *API) RevealSecret(ctx context.Context, actor int64) (string, error) {
	var secret string
	err := a.Store.Audited(ctx, &actor, "api_channel.secret_viewed", "api_channel", func(tx pgx.Tx) (int64, error) {
		c, err := a.Store.APIChannelSettings(ctx, tx, NewSecret)
		if err != nil {
			return 0, err
		}
		secret = c.WebhookSecret
		return 1, nil
	})
	return secret, err
}

// SetWebhook sets the URL agents' replies are posted to ("" for none), with
// its audit entry.
func (a *API) SetWebhook(ctx context.Context, actor int64, url string) error {
	return a.Store.Audited(ctx, &actor, "api_channel.updated", "api_channel", func(tx pgx.Tx) (int64, error) {
		return 1, a.Store.SetAPIChannelWebhook(ctx, tx, url, NewSecret)
	})
}

// Name implements inbox.Channel.
func (a *API) Name() string { return "api" }

// MaxAPIFiles and MaxAPIBytes bound the files of a reply the webhook
// carries, in base64 within its JSON.
const (
	MaxAPIFiles = 10
	MaxAPIBytes = 10 << 20
)

var _ inbox.AttachmentSender = (*API)(nil)

// AttachmentLimits: the webhook carries a reply's files
// (inbox.AttachmentSender).
func (a *API) AttachmentLimits() (int, int64) { return MaxAPIFiles, MaxAPIBytes }

// apiReply is the webhook's message: the reply and its files.
type apiReply struct {
	inbox.Outbound
	Attachments []apiFile `json:"attachments,omitempty"`
}

// apiFile is a file of a reply, as the inbound API takes one, with its
// size and SHA-256; Data is standard base64 in JSON.
type apiFile struct {
	Filename    string `json:"filename"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	Data        []byte `json:"data"`
}

// Deliver posts the reply to the webhook. The delivery id lets the receiver
// drop a retried delivery it already has.
func (a *API) Deliver(ctx context.Context, out inbox.Outbound) (string, error) {
	settings, err := a.Settings(ctx)
	if err != nil {
		return "", err
	}
	if settings.WebhookURL == "" {
		return "", errors.New("no webhook URL is set for the API channel (Settings → API channel)")
	}
	files, err := out.LoadFiles(ctx, a.Store)
	if err != nil {
		return "", err
	}
	msg := apiReply{Outbound: out}
	msg.Files = 0 // the attachments say it: the count stays out of the payload
	for _, f := range files {
		msg.Attachments = append(msg.Attachments, apiFile{Filename: f.Filename, ContentType: f.ContentType, Size: f.Size, SHA256: f.SHA256, Data: f.Data})
	}
	body, err := json.Marshal(map[string]any{"type": "message.created", "message": msg})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, settings.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	id := strconv.FormatInt(out.MessageID, 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Switchboard-Delivery", id)
	req.Header.Set(SignatureHeader, inbox.Sign(settings.WebhookSecret, now(), body))
	client := a.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("posting to the webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("the webhook answered %s", resp.Status)
	}
	return id, nil
}
