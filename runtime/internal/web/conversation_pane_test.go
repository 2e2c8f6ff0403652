package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// backKeepsView finds the pane's link back to the list of view "mine".
var backKeepsView = regexp.MustCompile(`class="back" href="/inbox\?[^"]*view=mine`)

// hx sends a request as the page's scripts do (HX-Request, the CSRF header).
func (f *fixture) hx(t *testing.T, method, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, f.ts.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", f.csrf[auth.Agent])
	req.AddCookie(f.sessions[auth.Agent])
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp, readBody(t, resp)
}

// TestConversationPaneFragments: the pane's writes answer with the pane
// (no page, no redirect) keeping the view in its links; an empty reply or
// note is a field error; plain posts still redirect.
func TestConversationPaneFragments(t *testing.T) {
	f := newFixture(t)
	base := fmt.Sprintf("/inbox/conversations/%d", f.convID)

	resp, page := f.hx(t, http.MethodPost, base+"/reply?view=mine", url.Values{"body": {"On its way"}})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("htmx reply: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !backKeepsView.MatchString(page) {
		t.Errorf("the pane's way back lost the view:\n%s", excerpt(page, "back"))
	}
	for _, want := range []string{`class="conv-pane"`, `data-live="conversation-`, "On its way", `data-testid="composer"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the reply's answer lacks %q:\n%s", want, excerpt(page, "conv-pane"))
		}
	}
	if strings.Contains(page, "<html") || strings.Contains(page, `id="conversation-list"`) {
		t.Errorf("the reply's answer is a page, not the pane")
	}

	resp, page = f.hx(t, http.MethodPost, base+"/note", url.Values{"body": {"Ask the warehouse"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `class="msg note"`) || !strings.Contains(page, "Ask the warehouse") {
		t.Fatalf("htmx note: %d\n%s", resp.StatusCode, excerpt(page, "note"))
	}

	for _, what := range []string{"reply", "note"} {
		resp, body := f.hx(t, http.MethodPost, base+"/"+what, url.Values{"body": {"   "}})
		var e struct {
			Error struct{ Code, Field, Message string }
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || resp.StatusCode != http.StatusBadRequest ||
			e.Error.Code != "invalid" || e.Error.Field != "body" || !strings.Contains(e.Error.Message, what+" is empty") {
			t.Errorf("an empty %s: %d %s", what, resp.StatusCode, body)
		}
	}
	if r := f.do(auth.Agent, http.MethodPost, base+"/reply", url.Values{"body": {"plain"}}, false); r.StatusCode != http.StatusSeeOther {
		t.Errorf("a plain reply post: %d, want 303", r.StatusCode)
	}

	// Live refreshes: the pane alone, with the view; the list alone, with
	// this conversation selected.
	resp, page = f.hx(t, http.MethodGet, base+"?view=mine&fragment=conversation", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(strings.TrimSpace(page), `<div class="conv-pane"`) || !backKeepsView.MatchString(page) {
		t.Errorf("conversation fragment: %d\n%s", resp.StatusCode, excerpt(page, "conv-pane"))
	}
	resp, page = f.hx(t, http.MethodGet, base+"?view=all&fragment=list", nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(page, "conv-pane") || !strings.Contains(page, fmt.Sprintf(`id="conv-%d"`, f.convID)) ||
		!strings.Contains(page, "selected") {
		t.Errorf("list fragment: %d\n%s", resp.StatusCode, excerpt(page, "conv"))
	}
	if page := f.page(t, f.convID); !strings.Contains(page, `data-live="list"`) || !strings.Contains(page, "live.js") || strings.Contains(page, "sse-connect") {
		t.Errorf("the inbox page is not wired to live.js")
	}
}

// TestComposerFlagsUndeliverableReplies: before typing, the composer says
// why a reply could not be delivered, and Send is off; notes stay open.
func TestComposerFlagsUndeliverableReplies(t *testing.T) {
	f := newFixture(t)
	wa, _, waConv, _ := withChannels(t, f)
	blocked := func(conv int64) string {
		t.Helper()
		page := f.page(t, conv)
		if !strings.Contains(page, `id="note"`) || strings.Contains(page, `id="note" disabled`) {
			t.Errorf("conversation %d: the note box is missing or off", conv)
		}
		i := strings.Index(page, `data-testid="blocked"`)
		if i < 0 {
			if strings.Contains(page, `data-testid="send" disabled`) {
				t.Errorf("conversation %d: Send is off with no reason given", conv)
			}
			return ""
		}
		if !strings.Contains(page, `data-testid="send" disabled`) {
			t.Errorf("conversation %d: a reason is shown but Send is on", conv)
		}
		end := strings.Index(page[i:], "</p>")
		return page[i : i+end]
	}
	if got := blocked(f.convID); got != "" {
		t.Fatalf("a deliverable conversation is flagged: %s", got)
	}

	// The API channel without a webhook URL: a reply would fail, so the agent
	// is told before typing; Send stays on, as the reply is kept to retry.
	page := f.page(t, f.convID)
	if !strings.Contains(page, `data-testid="warning"`) || !strings.Contains(page, "no webhook URL is set") ||
		strings.Contains(page, `data-testid="send" disabled`) {
		t.Errorf("the API channel without a webhook: no warning, or Send is off")
	}
	if err := f.st.SetAPIChannelWebhook(bg, f.st.Pool, "https://hooks.acme.example/replies", func() string { return "whsec_test" }); err != nil {
		t.Fatal(err)
	}
	if page := f.page(t, f.convID); strings.Contains(page, `data-testid="warning"`) {
		t.Errorf("the API channel with a webhook is still flagged")
	}

	// No address for the contact on this channel.
	if _, err := f.st.Pool.Exec(bg, `DELETE FROM contact_identities WHERE contact_id = $1 AND channel = 'api'`, f.contactOf(t, f.convID)); err != nil {
		t.Fatal(err)
	}
	if got := blocked(f.convID); !strings.Contains(got, "no address on API") {
		t.Errorf("no address: %q", got)
	}

	// Restricted processing.
	id := f.contactOf(t, waConv)
	if _, err := f.st.SetContactConsent(bg, nil, id, store.Consent{ProcessingRestricted: ptrBool(true), Source: "agent"}); err != nil {
		t.Fatal(err)
	}
	if got := blocked(waConv); !strings.Contains(got, "restricted") {
		t.Errorf("restricted: %q", got)
	}
	if _, err := f.st.SetContactConsent(bg, nil, id, store.Consent{ProcessingRestricted: ptrBool(false), Source: "agent"}); err != nil {
		t.Fatal(err)
	}

	// The channel is gone (its Integration disconnected).
	svc := f.srv.Inbox
	resolve := svc.Resolve
	svc.Resolve = func(name string) (inbox.Channel, bool) {
		if name == wa.name {
			return nil, false
		}
		return resolve(name)
	}
	if got := blocked(waConv); !strings.Contains(got, "not connected") {
		t.Errorf("disconnected: %q", got)
	}
	svc.Resolve = resolve
	if got := blocked(waConv); got != "" {
		t.Errorf("connected again, still flagged: %q", got)
	}
}
