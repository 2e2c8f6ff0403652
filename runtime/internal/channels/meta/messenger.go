package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

// Messenger's limits and clocks.
const (
	// MessengerWindow is the standard messaging window after a person's
	// last message: replies go as messaging_type RESPONSE.
	MessengerWindow = 24 * time.Hour
	// HumanAgentWindow is how long after a person's last message a human
	// agent's reply may still go, tagged HUMAN_AGENT.
	HumanAgentWindow = 7 * 24 * time.Hour
	// TagHumanAgent is the message tag of a late human reply.
	TagHumanAgent = "HUMAN_AGENT"
	// MaxMessengerText is the longest text message, in characters.
	MaxMessengerText = 2000
	// pageCheckInterval is how often the page token is checked while idle.
	pageCheckInterval = 15 * time.Minute
)

// Messenger error codes beyond the shared ones.
const (
	subcodeOutsideWindow = 2018278 // code 10: sent outside the allowed window
	codeUnavailable      = 551     // the person is not available
)

// Messenger is a Facebook Page's Messenger inbox: config pageId;
// credentials pageAccessToken, appSecret and verifyToken.
type Messenger struct {
	key    string
	pageID string
	graph  *graph
	deps   adapter.Deps
	log    *slog.Logger
	report func(state, code, message string)

	mu          sync.Mutex
	token       string
	appSecret   string
	verifyToken string
	closed      bool
	sent        sentCache
	names       map[string]string // PSID -> profile name ("" if it could not be read)
	pageName    string
}

var (
	_ adapter.Sender          = (*Messenger)(nil)
	_ adapter.WebhookReceiver = (*Messenger)(nil)
	_ inbox.Windowed          = (*Messenger)(nil)
)

// NewMessenger is the "messenger" factory.
func NewMessenger(d adapter.Deps) (adapter.Adapter, error) {
	var missing []string
	if d.Info.Config["pageId"] == "" {
		missing = append(missing, "config pageId")
	}
	for _, k := range []string{"pageAccessToken", "appSecret", "verifyToken"} {
		if d.Credentials[k] == "" {
			missing = append(missing, "credential "+k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("messenger needs %s", strings.Join(missing, ", "))
	}
	pageID := d.Info.Config["pageId"]
	if !numericID(pageID) {
		return nil, errors.New("messenger: pageId is a numeric Graph id")
	}
	g, err := newGraph(&d, true)
	if err != nil {
		return nil, err
	}
	m := &Messenger{key: d.Key, pageID: pageID, graph: g, deps: d, log: logger(d), report: reporter(d),
		token: d.Credentials["pageAccessToken"], appSecret: d.Credentials["appSecret"], verifyToken: d.Credentials["verifyToken"],
		names: map[string]string{}}
	m.deps.Credentials = nil
	return m, nil
}

// Name implements inbox.Channel: the channel key.
func (m *Messenger) Name() string { return m.key }

func (m *Messenger) creds() (token, appSecret, verifyToken string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.token, m.appSecret, m.verifyToken, !m.closed
}

// Close implements adapter.Adapter.
func (m *Messenger) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.token, m.appSecret, m.verifyToken, m.closed = "", "", "", true
}

// Credentials implements adapter.Adapter.
func (m *Messenger) Credentials() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	return []string{m.token, m.appSecret, m.verifyToken}
}

// ReplyWindow implements inbox.Windowed: replies within 24 hours of the
// person's last message; then, up to 7 days after it, a human agent's
// reply tagged HUMAN_AGENT; after that nothing until they write again.
func (m *Messenger) ReplyWindow(lastInbound, now time.Time) inbox.Window {
	since := now.Sub(lastInbound)
	switch {
	case lastInbound.IsZero() || since >= HumanAgentWindow:
		return inbox.Window{Explain: "More than 7 days have passed since this person last wrote: Messenger allows no message until they write again."}
	case since < MessengerWindow:
		return inbox.Window{FreeForm: true, ClosesAt: lastInbound.Add(MessengerWindow),
			Explain: "Messenger's standard window: replies are open until 24 hours after the person's last message, then only a human agent's reply, for up to 7 days."}
	default:
		return inbox.Window{FreeForm: true, Tag: TagHumanAgent, ClosesAt: lastInbound.Add(HumanAgentWindow),
			Explain: "More than 24 hours have passed since this person last wrote: your reply goes as a human agent's (HUMAN_AGENT tag), which Messenger allows until 7 days after their last message. Automated messages are not allowed."}
	}
}

// AtMostOnce implements inbox.AtMostOnce: Meta's send API has no
// idempotency key, so a send that may have reached it is not repeated.
func (m *Messenger) AtMostOnce() {}

// Deliver implements inbox.Channel through the Send API. It checks the
// window again when the reply leaves (a retry may come later than the
// reply was written) and returns the message id.
func (m *Messenger) Deliver(ctx context.Context, out inbox.Outbound) (string, error) {
	token, secret, _, ok := m.creds()
	if !ok {
		return "", errClosed
	}
	m.mu.Lock()
	id, done := m.sent.get(out.MessageID)
	m.mu.Unlock()
	if done {
		return id, nil
	}
	if !numericID(out.Identifier) {
		return "", adapter.Permanent(errors.New("the contact has no Messenger id on this channel"))
	}
	if out.Template != nil {
		return "", adapter.Permanent(errors.New("Messenger has no message templates"))
	}
	if err := checkLength(out.Body, MaxMessengerText, "Messenger"); err != nil {
		return "", err
	}
	st := m.deps.Store
	last, err := st.LastIncomingAt(ctx, st.Pool, out.ConversationID)
	if err != nil {
		return "", err
	}
	win := m.ReplyWindow(last, m.deps.Clock())
	if !win.FreeForm {
		return "", adapter.Permanent(errors.New(win.Explain))
	}
	tag := win.Tag
	if tag == "" {
		tag = out.Tag // written when the tag was needed: it is valid all 7 days
	}
	files, err := out.LoadFiles(ctx, st)
	if err != nil {
		return "", err
	}
	if len(files) > 1 || (len(files) == 1 && strings.TrimSpace(out.Body) != "") {
		return "", adapter.Permanent(errors.New("a Messenger reply is one file without text, or text"))
	}
	messagingType := "RESPONSE"
	if tag != "" {
		messagingType = "MESSAGE_TAG"
	}
	var resp struct {
		RecipientID string `json:"recipient_id"`
		MessageID   string `json:"message_id"`
	}
	if len(files) == 1 {
		// The file goes up with the message (filedata), in one call.
		f := files[0]
		recipient, _ := json.Marshal(map[string]string{"id": out.Identifier})
		message, _ := json.Marshal(map[string]any{"attachment": map[string]any{"type": messengerKind(f.ContentType), "payload": map[string]bool{"is_reusable": false}}})
		fields := [][2]string{{"recipient", string(recipient)}, {"messaging_type", messagingType}, {"message", string(message)}}
		if tag != "" {
			fields = append(fields, [2]string{"tag", tag})
		}
		err = m.graph.upload(ctx, token, secret, m.pageID+"/messages", fields, "filedata", f.Filename, f.ContentType, f.Data, &resp)
	} else {
		req := map[string]any{"recipient": map[string]string{"id": out.Identifier}, "messaging_type": messagingType,
			"message": map[string]string{"text": out.Body}}
		if tag != "" {
			req["tag"] = tag
		}
		err = m.graph.call(ctx, token, secret, http.MethodPost, m.pageID+"/messages", nil, req, &resp)
	}
	if err != nil && wasAccepted(err) {
		// Meta took the message; sending it again would send it twice.
		// Without its id, Meta's status reports cannot find it.
		m.log.Warn("Meta accepted a message but its answer could not be read; it stays at sent", "channel", m.key, "message", out.MessageID)
		return "", nil
	} else if err != nil {
		var ge *GraphError
		if errors.As(err, &ge) {
			switch {
			case ge.Code == codePermission && ge.Subcode == subcodeOutsideWindow:
				err = fmt.Errorf("outside Messenger's messaging window: %w", err)
			case ge.Code == codeUnavailable:
				err = fmt.Errorf("this person cannot receive messages from the Page now: %w", err)
			}
		}
		return "", deliveryError(err, m.report)
	}
	if resp.MessageID == "" {
		m.log.Warn("the Send API accepted a message but returned no message_id; it stays at sent", "channel", m.key, "message", out.MessageID)
		return "", nil
	}
	m.report(contract.HealthConnected, "", m.connected())
	m.mu.Lock()
	m.sent.put(out.MessageID, resp.MessageID)
	m.mu.Unlock()
	return resp.MessageID, nil
}

// Run implements adapter.Adapter: it checks the page token (GET
// /{page-id}?fields=name) at start and every 15 minutes, reporting
// Connected, AuthFailed (190) or what else Meta says.
func (m *Messenger) Run(ctx context.Context) {
	failures := 0
	for {
		wait := pageCheckInterval
		if err := m.CheckPage(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			wait = backoff(failures, 30*time.Second, pageCheckInterval)
			m.log.Warn("messenger page check failed", "channel", m.key, "error", err.Error())
		} else {
			failures = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// CheckPage reads the Page's name with the page token and reports the
// outcome.
func (m *Messenger) CheckPage(ctx context.Context) error {
	token, secret, _, ok := m.creds()
	if !ok {
		return errClosed
	}
	var page struct {
		Name string `json:"name"`
		ID   string `json:"id"`
	}
	err := m.graph.call(ctx, token, secret, http.MethodGet, m.pageID, url.Values{"fields": {"name"}}, nil, &page)
	if err == nil {
		m.mu.Lock()
		m.pageName = page.Name
		m.mu.Unlock()
		m.report(contract.HealthConnected, "", m.connected())
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	var ge *GraphError
	switch {
	case errors.As(err, &ge) && ge.Code == codeAuth:
		m.report(authFailed(ge))
	case errors.As(err, &ge) && !ge.Retryable():
		m.report(contract.HealthMisconfigured, strconv.Itoa(ge.Code), "Meta refused to read Page "+m.pageID+": "+ge.Message)
	default:
		m.report(contract.HealthUnreachable, "", "the Graph API did not answer: "+err.Error())
	}
	return err
}

// connected is the one Connected message, whichever call proved the
// token: reports only reach Vault when they change.
func (m *Messenger) connected() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pageName == "" {
		return "Meta accepted the page token"
	}
	return "Meta accepted the page token of Page " + m.pageName
}

// profileName is the person's name from their Messenger profile, read once
// per process; "" when the Page may not read it.
func (m *Messenger) profileName(ctx context.Context, token, secret, psid string) string {
	m.mu.Lock()
	name, ok := m.names[psid]
	m.mu.Unlock()
	if ok {
		return name
	}
	var p struct {
		Name      string `json:"name"`
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
	}
	err := m.graph.call(ctx, token, secret, http.MethodGet, psid, url.Values{"fields": {"name"}}, nil, &p)
	if err != nil {
		var ge *GraphError
		if !errors.As(err, &ge) {
			return "" // a transport error: try again next time
		}
	}
	name = strings.TrimSpace(p.Name)
	if name == "" {
		name = strings.TrimSpace(p.FirstName + " " + p.LastName)
	}
	m.mu.Lock()
	if len(m.names) > 10000 {
		m.names = map[string]string{}
	}
	m.names[psid] = name
	m.mu.Unlock()
	return name
}
