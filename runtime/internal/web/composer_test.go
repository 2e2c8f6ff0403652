package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels/sms"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

// fakeChannel is a provider channel for composer tests: a 24-hour window
// with templates after it (like WhatsApp), or SMS segments.
type fakeChannel struct {
	name     string
	windowed bool
	mu       sync.Mutex
	fail     error
	calls    int // Deliver calls, failed ones included
	sent     []inbox.Outbound
}

func (c *fakeChannel) Name() string { return c.name }

func (c *fakeChannel) Deliver(_ context.Context, out inbox.Outbound) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.fail != nil {
		return "", c.fail
	}
	c.sent = append(c.sent, out)
	return fmt.Sprintf("prov-%d", out.MessageID), nil
}

type windowedChannel struct{ *fakeChannel }

func (c windowedChannel) ReplyWindow(last, now time.Time) inbox.Window {
	if !last.IsZero() && now.Sub(last) < 24*time.Hour {
		return inbox.Window{FreeForm: true, Templates: true, ClosesAt: last.Add(24 * time.Hour), Explain: "Free-form replies for 24 hours after the customer's last message."}
	}
	return inbox.Window{Templates: true, Explain: "More than 24 hours since the customer wrote: only approved templates may be sent."}
}

func (c windowedChannel) Templates(context.Context) ([]inbox.Template, error) {
	return []inbox.Template{
		{Name: "order_update", Language: "en_US", Category: "UTILITY", Body: "Hi {{1}}, your order {{2}} has shipped.", Params: 2},
		{Name: "hello", Language: "en_US", Category: "MARKETING", Body: "Hello! Reply to continue.", Params: 0},
	}, nil
}

type smsChannel struct{ *fakeChannel }

func (c smsChannel) Segments(body string) (int, string) {
	i := sms.Count(body)
	return i.Parts, i.Encoding
}

// withChannels adds a WhatsApp-like and an SMS-like channel to the
// fixture, each with one conversation whose contact wrote just now.
func withChannels(t *testing.T, f *fixture) (wa, txt *fakeChannel, waConv, smsConv int64) {
	t.Helper()
	wa, txt = &fakeChannel{name: "whatsapp/main"}, &fakeChannel{name: "telnyx/sms"}
	svc := f.srv.Inbox
	svc.Resolve = func(name string) (inbox.Channel, bool) {
		switch name {
		case wa.name:
			return windowedChannel{wa}, true
		case txt.name:
			return smsChannel{txt}, true
		}
		return nil, false
	}
	for _, c := range []struct {
		ch  string
		id  *int64
		ext string
	}{{wa.name, &waConv, "wamid.1"}, {txt.name, &smsConv, "sms-1"}} {
		res, err := svc.Ingest(bg, inbox.Inbound{Channel: c.ch, Identifier: "+15550177", ContactName: "Grace", ExternalID: c.ext, Body: "Where is my order?"})
		if err != nil {
			t.Fatal(err)
		}
		*c.id = res.Conversation.ID
	}
	return wa, txt, waConv, smsConv
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (f *fixture) page(t *testing.T, conv int64) string {
	t.Helper()
	resp := f.do(auth.Agent, http.MethodGet, fmt.Sprintf("/inbox/conversations/%d", conv), nil, false)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("conversation page: %d", resp.StatusCode)
	}
	return readBody(t, resp)
}

func (f *fixture) deliverOutbox() {
	(&channels.Worker{Inbox: f.srv.Inbox, Log: slog.New(slog.DiscardHandler)}).RunOnce(bg)
}

func TestComposerWindowAndTemplates(t *testing.T) {
	f := newFixture(t)
	wa, _, conv, _ := withChannels(t, f)
	svc := f.srv.Inbox
	convPath := fmt.Sprintf("/inbox/conversations/%d", conv)

	// Inside the window: free-form replies, templates on offer but folded.
	page := f.page(t, conv)
	if !strings.Contains(page, `data-state="open"`) || !strings.Contains(page, "Messaging window open until") ||
		strings.Contains(page, `data-testid="send" disabled`) || strings.Contains(page, `data-testid="templates" open`) {
		t.Fatalf("inside the window the page shows:\n%s", excerpt(page, "composer"))
	}
	if r := f.do(auth.Agent, http.MethodPost, convPath+"/reply", url.Values{"body": {"On its way!"}}, false); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply inside the window: %d", r.StatusCode)
	}

	// Two days later: templates only.
	svc.Now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	page = f.page(t, conv)
	for _, want := range []string{`data-state="templates"`, "Templates only", "only approved templates may be sent",
		`data-testid="send" disabled`, `data-testid="templates" open`, `action="/inbox/conversations/` + fmt.Sprint(conv) + `/template"`,
		`value="order_update"`, "Variable {{1}}", "Variable {{2}}", `data-body="Hi {{1}}, your order {{2}} has shipped."`} {
		if !strings.Contains(page, want) {
			t.Fatalf("outside the window the page lacks %q:\n%s", want, excerpt(page, "composer"))
		}
	}
	if r := f.do(auth.Agent, http.MethodPost, convPath+"/reply", url.Values{"body": {"late"}}, false); r.StatusCode != http.StatusConflict {
		t.Fatalf("a free-form reply outside the window: %d, want 409", r.StatusCode)
	}
	r := f.api(auth.Agent, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/replies", conv), `{"text":"late"}`)
	var apiErr struct {
		Error struct{ Code, Message string }
	}
	json.NewDecoder(r.Body).Decode(&apiErr)
	if r.StatusCode != http.StatusConflict || apiErr.Error.Code != "outside_window" || !strings.Contains(apiErr.Error.Message, "only approved templates") {
		t.Fatalf("API reply outside the window: %d %+v", r.StatusCode, apiErr)
	}

	// The template goes, its variables filled in.
	form := url.Values{"template": {"order_update"}, "language": {"en_US"}, "param": {"Grace", "#1042"}}
	if r := f.do(auth.Agent, http.MethodPost, convPath+"/template", form, false); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("template: %d %s", r.StatusCode, readBody(t, r))
	}
	bad := []url.Values{
		{"template": {"order_update"}, "language": {"en_US"}, "param": {"Grace"}},       // one variable short
		{"template": {"order_update"}, "language": {"en_US"}, "param": {"Grace", " "}},  // an empty one
		{"template": {"order_update"}, "language": {"de_DE"}, "param": {"Grace", "#1"}}, // not approved in German
		{"template": {"made_up"}, "language": {"en_US"}},                                // not approved at all
		{"template": {"hello"}, "language": {"en_US"}, "param": {"unexpected"}},         // takes none
		{"template": {"order_update"}, "language": {"en_US"}, "param": {strings.Repeat("x", 1025), "#1"}},
	}
	for i, b := range bad {
		if r := f.do(auth.Agent, http.MethodPost, convPath+"/template", b, false); r.StatusCode != http.StatusBadRequest {
			t.Errorf("bad template %d: %d, want 400", i, r.StatusCode)
		}
	}
	r = f.api(auth.Agent, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/template-replies", conv), `{"name":"hello","language":"en_US"}`)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("API template reply: %d %s", r.StatusCode, readBody(t, r))
	}
	f.deliverOutbox()
	wa.mu.Lock()
	sent := append([]inbox.Outbound(nil), wa.sent...)
	wa.mu.Unlock()
	if len(sent) != 3 || sent[0].Template != nil || sent[1].Template == nil || sent[1].Template.Name != "order_update" ||
		strings.Join(sent[1].Template.Params, "|") != "Grace|#1042" || sent[1].Body != "Hi Grace, your order #1042 has shipped." ||
		sent[2].Template == nil || sent[2].Template.Name != "hello" {
		t.Fatalf("the channel got %+v", sent)
	}
	if page := f.page(t, conv); !strings.Contains(page, "Hi Grace, your order #1042 has shipped.") {
		t.Fatal("the conversation does not show the template as sent")
	}
	// The API channel sends no templates.
	if r := f.api(auth.Agent, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/template-replies", f.convID), `{"name":"hello","language":"en_US"}`); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("a template on the API channel: %d", r.StatusCode)
	}
	// Viewers may not send templates.
	if r := f.do(auth.Viewer, http.MethodPost, convPath+"/template", form, false); r.StatusCode != http.StatusForbidden {
		t.Fatalf("a viewer sending a template: %d", r.StatusCode)
	}
}

func TestFailedReplyShowsWhyAndRetries(t *testing.T) {
	f := newFixture(t)
	wa, _, conv, smsConv := withChannels(t, f)
	wa.fail = adapter.Permanent(errors.New("Telnyx refused the message: 40008 Undeliverable"))
	r := f.api(auth.Agent, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/replies", conv), `{"text":"are you there?"}`)
	var created struct{ Message struct{ ID int64 } }
	json.NewDecoder(r.Body).Decode(&created)
	mid := created.Message.ID
	f.deliverOutbox()

	page := f.page(t, conv)
	retryAction := fmt.Sprintf(`action="/inbox/conversations/%d/messages/%d/retry"`, conv, mid)
	if !strings.Contains(page, "Not delivered: Telnyx refused the message: 40008 Undeliverable") || !strings.Contains(page, retryAction) {
		t.Fatalf("the failed reply shows:\n%s", excerpt(page, "failure"))
	}
	// A retry names the conversation the message is in.
	if r := f.do(auth.Agent, http.MethodPost, fmt.Sprintf("/inbox/conversations/%d/messages/%d/retry", smsConv, mid), nil, false); r.StatusCode != http.StatusNotFound {
		t.Fatalf("retry through another conversation: %d", r.StatusCode)
	}
	wa.mu.Lock()
	wa.fail = nil
	wa.mu.Unlock()
	if r := f.do(auth.Agent, http.MethodPost, fmt.Sprintf("/inbox/conversations/%d/messages/%d/retry", conv, mid), nil, false); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry: %d", r.StatusCode)
	}
	if page := f.page(t, conv); strings.Contains(page, retryAction) || !strings.Contains(page, `data-testid="delivery">queued`) {
		t.Fatalf("after retry:\n%s", excerpt(page, "delivery"))
	}
	f.deliverOutbox()
	var status string
	f.st.Pool.QueryRow(bg, `SELECT delivery_status FROM messages WHERE id = $1`, mid).Scan(&status)
	if status != "sent" || len(wa.sent) != 1 {
		t.Fatalf("after the retry was delivered: %s, %d sent", status, len(wa.sent))
	}
	// Only a failed reply is retried.
	r = f.api(auth.Agent, http.MethodPost, fmt.Sprintf("/api/v1/messages/%d/retry", mid), "")
	if got := r.Header.Get("X-Error-Code"); r.StatusCode != http.StatusConflict || got != "not_failed" {
		t.Fatalf("retrying a sent reply: %d %s", r.StatusCode, got)
	}
	var incoming int64
	f.st.Pool.QueryRow(bg, `SELECT id FROM messages WHERE conversation_id = $1 AND direction = 'incoming'`, conv).Scan(&incoming)
	if r := f.api(auth.Agent, http.MethodPost, fmt.Sprintf("/api/v1/messages/%d/retry", incoming), ""); r.StatusCode != http.StatusNotFound {
		t.Fatalf("retrying an incoming message: %d", r.StatusCode)
	}

	// The API retries too.
	wa.mu.Lock()
	wa.fail = adapter.Permanent(errors.New("no"))
	wa.mu.Unlock()
	m2, err := f.srv.Inbox.Reply(bg, f.users[auth.Agent].ID, conv, "again")
	if err != nil {
		t.Fatal(err)
	}
	f.deliverOutbox()
	r = f.api(auth.Agent, http.MethodPost, fmt.Sprintf("/api/v1/messages/%d/retry", m2.ID), "")
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("API retry: %d %s", r.StatusCode, readBody(t, r))
	}
	f.st.Pool.QueryRow(bg, `SELECT delivery_status FROM messages WHERE id = $1`, m2.ID).Scan(&status)
	if status != "queued" {
		t.Fatalf("after an API retry: %s", status)
	}
}

func TestSegmentCounterOnSMSOnly(t *testing.T) {
	f := newFixture(t)
	_, _, waConv, smsConv := withChannels(t, f)
	if page := f.page(t, smsConv); !strings.Contains(page, " data-sms") || !strings.Contains(page, `data-testid="segments"`) ||
		strings.Contains(page, `data-testid="window"`) {
		t.Fatalf("SMS composer:\n%s", excerpt(page, "composer"))
	}
	for _, conv := range []int64{waConv, f.convID} {
		if page := f.page(t, conv); strings.Contains(page, `data-testid="segments"`) {
			t.Fatalf("conversation %d counts segments", conv)
		}
	}
	if !strings.Contains(f.page(t, f.convID), "sms.js") {
		t.Fatal("the page does not load sms.js")
	}
}

func TestFillTemplate(t *testing.T) {
	cases := []struct {
		body   string
		params []string
		want   string
	}{
		{"Hi {{1}}, order {{2}}", []string{"Ada", "#7"}, "Hi Ada, order #7"},
		{"{{ 1 }} and {{1}}", []string{"x"}, "x and x"},
		{"no variables", nil, "no variables"},
		{"{{3}} stays", []string{"a"}, "{{3}} stays"},
		{"{{0}} stays", []string{"a"}, "{{0}} stays"},
		{"{{1}}", []string{"{{2}}", "b"}, "{{2}}"}, // a value is not expanded again
	}
	for _, c := range cases {
		if got := fillTemplate(c.body, c.params); got != c.want {
			t.Errorf("fillTemplate(%q, %q) = %q, want %q", c.body, c.params, got, c.want)
		}
	}
}

// excerpt is the part of a page around the first mention of word.
func excerpt(page, word string) string {
	i := strings.Index(page, word)
	if i < 0 {
		return page
	}
	return page[max(0, i-200):min(len(page), i+2500)]
}

// TestUnconfirmedReplyOffersSendAgain: a send whose answer was lost is not
// repeated by the outbox; the conversation says so, and Send again is the
// agent's choice.
func TestUnconfirmedReplyOffersSendAgain(t *testing.T) {
	f := newFixture(t)
	wa, _, conv, _ := withChannels(t, f)
	wa.fail = adapter.Unconfirmed(errors.New("read tcp 10.0.0.1:443: connection reset by peer"))
	m, err := f.srv.Inbox.Reply(bg, f.users[auth.Agent].ID, conv, "your refund is on its way")
	if err != nil {
		t.Fatal(err)
	}
	f.deliverOutbox()
	if _, err := f.st.Pool.Exec(bg, `UPDATE outbox SET next_attempt_at = now() - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	f.deliverOutbox()
	wa.mu.Lock()
	calls := wa.calls
	wa.mu.Unlock()
	if calls != 1 {
		t.Fatalf("the channel was called %d times, want 1: an unconfirmed send is not repeated", calls)
	}
	page := f.page(t, conv)
	retryAction := fmt.Sprintf(`action="/inbox/conversations/%d/messages/%d/retry"`, conv, m.ID)
	if !strings.Contains(page, `data-testid="unconfirmed"`) || !strings.Contains(page, "Delivery not confirmed: the connection to the provider broke after the message was sent") ||
		!strings.Contains(page, retryAction) || !strings.Contains(page, "Send again") || strings.Contains(page, `data-testid="failure"`) {
		t.Fatalf("the unconfirmed reply shows:\n%s", excerpt(page, "unconfirmed"))
	}
	wa.mu.Lock()
	wa.fail = nil
	wa.mu.Unlock()
	if r := f.do(auth.Agent, http.MethodPost, fmt.Sprintf("/inbox/conversations/%d/messages/%d/retry", conv, m.ID), nil, false); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("send again: %d", r.StatusCode)
	}
	f.deliverOutbox()
	var status string
	f.st.Pool.QueryRow(bg, `SELECT delivery_status FROM messages WHERE id = $1`, m.ID).Scan(&status)
	wa.mu.Lock()
	after, sent := wa.calls, len(wa.sent)
	wa.mu.Unlock()
	if status != "sent" || after != 2 || sent != 1 {
		t.Fatalf("after Send again: %s, %d calls, %d sent", status, after, sent)
	}
}
