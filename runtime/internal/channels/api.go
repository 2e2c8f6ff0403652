// Package channels holds one adapter per Integration type, each an
// inbox.Channel, and the outbox worker that delivers agents' replies.
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

// Name implements inbox.Channel.
func (a *API) Name() string { return "api" }

// Deliver posts the reply to the webhook. The delivery id lets the receiver
// drop a retried delivery it already has.
func (a *API) Deliver(ctx context.Context, out inbox.Outbound) (string, error) {
	settings, err := a.Store.APIChannelSettings(ctx, NewSecret)
	if err != nil {
		return "", err
	}
	if settings.WebhookURL == "" {
		return "", errors.New("no webhook URL is set for the API channel (Settings → API channel)")
	}
	body, err := json.Marshal(map[string]any{"type": "message.created", "message": out})
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
