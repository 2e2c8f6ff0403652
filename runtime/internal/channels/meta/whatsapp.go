package meta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

func init() {
	adapter.Register("whatsapp", NewWhatsApp)
	adapter.Register("messenger", NewMessenger)
}

// WhatsApp's limits and clocks.
const (
	// WhatsAppWindow is how long after a customer's last message free-form
	// replies may go.
	WhatsAppWindow = 24 * time.Hour
	// MaxWhatsAppText is the longest text message body, in characters.
	MaxWhatsAppText = 4096
	// TemplateSyncInterval is how often approved templates are re-read.
	TemplateSyncInterval = 15 * time.Minute
)

// WhatsApp is a WhatsApp Business Cloud API number: config phoneNumberId
// and businessAccountId; credentials accessToken (a system-user token),
// appSecret and verifyToken.
type WhatsApp struct {
	key     string
	phoneID string // the phone number's Graph id: sends and webhook routing
	wabaID  string // the WhatsApp Business Account: templates
	graph   *graph
	deps    adapter.Deps
	log     *slog.Logger
	report  func(state, code, message string)

	mu          sync.Mutex
	token       string
	appSecret   string
	verifyToken string
	closed      bool
	sent        sentCache

	tmu       sync.RWMutex
	templates []inbox.Template
	synced    bool
	syncErr   error
	resync    chan struct{}
}

var (
	_ adapter.Sender          = (*WhatsApp)(nil)
	_ adapter.WebhookReceiver = (*WhatsApp)(nil)
	_ inbox.Windowed          = (*WhatsApp)(nil)
	_ inbox.Templated         = (*WhatsApp)(nil)
)

// NewWhatsApp is the "whatsapp" factory.
func NewWhatsApp(d adapter.Deps) (adapter.Adapter, error) {
	var missing []string
	for _, k := range []string{"phoneNumberId", "businessAccountId"} {
		if d.Info.Config[k] == "" {
			missing = append(missing, "config "+k)
		}
	}
	for _, k := range []string{"accessToken", "appSecret", "verifyToken"} {
		if d.Credentials[k] == "" {
			missing = append(missing, "credential "+k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("whatsapp needs %s", strings.Join(missing, ", "))
	}
	phoneID, wabaID := d.Info.Config["phoneNumberId"], d.Info.Config["businessAccountId"]
	if !numericID(phoneID) || !numericID(wabaID) {
		return nil, errors.New("whatsapp: phoneNumberId and businessAccountId are numeric Graph ids")
	}
	g, err := newGraph(&d, false)
	if err != nil {
		return nil, err
	}
	w := &WhatsApp{key: d.Key, phoneID: phoneID, wabaID: wabaID, graph: g, deps: d,
		log: logger(d), report: reporter(d),
		token: d.Credentials["accessToken"], appSecret: d.Credentials["appSecret"], verifyToken: d.Credentials["verifyToken"],
		resync: make(chan struct{}, 1)}
	w.deps.Credentials = nil // the adapter's own fields hold them, and Close drops those
	return w, nil
}

// newGraph makes the Graph client of an adapter.
func newGraph(d *adapter.Deps, inQuery bool) (*graph, error) {
	base := d.ConfigURL("apiBaseURL", DefaultBaseURL)
	if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
		return nil, errors.New("apiBaseURL must be an http(s) URL")
	}
	client := d.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &graph{base: base, client: client, inQuery: inQuery}, nil
}

func logger(d adapter.Deps) *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.New(slog.DiscardHandler)
}

func reporter(d adapter.Deps) func(state, code, message string) {
	if d.Report != nil {
		return d.Report
	}
	return func(string, string, string) {}
}

// Name implements inbox.Channel: the channel key.
func (w *WhatsApp) Name() string { return w.key }

// creds returns the credentials, or ok false once closed.
func (w *WhatsApp) creds() (token, appSecret, verifyToken string, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.token, w.appSecret, w.verifyToken, !w.closed
}

// Close implements adapter.Adapter.
func (w *WhatsApp) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.token, w.appSecret, w.verifyToken, w.closed = "", "", "", true
}

// Credentials implements adapter.Adapter.
func (w *WhatsApp) Credentials() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	return []string{w.token, w.appSecret, w.verifyToken}
}

var errClosed = errors.New("the integration was disconnected")

// connectedWhatsApp is the one Connected message, whichever call proved
// the token: reports only reach Vault when they change.
const connectedWhatsApp = "Meta accepted the access token"

// ReplyWindow implements inbox.Windowed: free-form replies within 24 hours
// of the customer's last message, approved templates at any time.
func (w *WhatsApp) ReplyWindow(lastInbound, now time.Time) inbox.Window {
	if !lastInbound.IsZero() && now.Sub(lastInbound) < WhatsAppWindow {
		return inbox.Window{FreeForm: true, Templates: true, ClosesAt: lastInbound.Add(WhatsAppWindow),
			Explain: "WhatsApp allows free-form replies until 24 hours after the customer's last message; after that, only approved templates."}
	}
	return inbox.Window{Templates: true,
		Explain: "More than 24 hours have passed since the customer last wrote: WhatsApp allows only an approved template until they reply."}
}

// AtMostOnce implements inbox.AtMostOnce: Meta's send API has no
// idempotency key, so a send that may have reached it is not repeated.
func (w *WhatsApp) AtMostOnce() {}

// Deliver implements inbox.Channel: a text, or an approved template with
// its body variables. It returns the wamid.
func (w *WhatsApp) Deliver(ctx context.Context, out inbox.Outbound) (string, error) {
	token, secret, _, ok := w.creds()
	if !ok {
		return "", errClosed
	}
	w.mu.Lock()
	id, done := w.sent.get(out.MessageID)
	w.mu.Unlock()
	if done {
		return id, nil
	}
	to := strings.TrimPrefix(out.Identifier, "+")
	if !numericID(to) {
		return "", adapter.Permanent(errors.New("the contact has no WhatsApp number on this channel"))
	}
	// The callback data comes back in the message's status reports: if this
	// send's answer is lost, they still name the message (whatsapp_webhook.go).
	req := map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
		"biz_opaque_callback_data": callbackData(out.MessageID)}
	if t := out.Template; t != nil {
		tmpl := map[string]any{"name": t.Name, "language": map[string]string{"code": t.Language, "policy": "deterministic"}}
		if len(t.Params) > 0 {
			params := make([]map[string]string, len(t.Params))
			for i, p := range t.Params {
				params[i] = map[string]string{"type": "text", "text": p}
			}
			tmpl["components"] = []map[string]any{{"type": "body", "parameters": params}}
		}
		req["type"], req["template"] = "template", tmpl
	} else {
		files, err := out.LoadFiles(ctx, w.deps.Store)
		if err != nil {
			return "", err
		}
		switch len(files) {
		case 0:
			if err := checkLength(out.Body, MaxWhatsAppText, "WhatsApp"); err != nil {
				return "", err
			}
			req["type"], req["text"] = "text", map[string]any{"preview_url": false, "body": out.Body}
		case 1:
			kind, media, err := w.mediaMessage(ctx, token, secret, files[0], out.Body)
			if err != nil {
				return "", err
			}
			req["type"], req[kind] = kind, media
		default:
			return "", adapter.Permanent(fmt.Errorf("a WhatsApp reply carries one file, this one has %d", len(files)))
		}
	}
	var resp struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	if err := w.graph.call(ctx, token, secret, http.MethodPost, w.phoneID+"/messages", nil, req, &resp); err != nil && wasAccepted(err) {
		// Meta took the message; sending it again would send it twice.
		// Without its id, Meta's status reports cannot find it.
		w.log.Warn("Meta accepted a message but its answer could not be read; it stays at sent", "channel", w.key, "message", out.MessageID)
		return "", nil
	} else if err != nil {
		var ge *GraphError
		if errors.As(err, &ge) && ge.Code == codeOutsideWindow {
			err = fmt.Errorf("outside WhatsApp's 24-hour window, send an approved template: %w", err)
		}
		return "", deliveryError(err, w.report)
	}
	if len(resp.Messages) == 0 || resp.Messages[0].ID == "" {
		w.log.Warn("the Graph API accepted a message but returned no id; it stays at sent", "channel", w.key, "message", out.MessageID)
		return "", nil
	}
	w.report(contract.HealthConnected, "", connectedWhatsApp)
	w.mu.Lock()
	w.sent.put(out.MessageID, resp.Messages[0].ID)
	w.mu.Unlock()
	return resp.Messages[0].ID, nil
}

// Run implements adapter.Adapter: it syncs the approved templates now,
// every TemplateSyncInterval, and whenever a template's status changes.
// The first sync is also the proof that the token works.
func (w *WhatsApp) Run(ctx context.Context) {
	failures := 0
	for {
		wait := TemplateSyncInterval
		if err := w.SyncTemplates(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			wait = backoff(failures, 30*time.Second, TemplateSyncInterval)
			w.log.Warn("whatsapp template sync failed", "channel", w.key, "error", err.Error())
		} else {
			failures = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-w.resync:
			t.Stop()
		}
	}
}

// requestSync asks Run for a template sync soon.
func (w *WhatsApp) requestSync() {
	select {
	case w.resync <- struct{}{}:
	default:
	}
}
