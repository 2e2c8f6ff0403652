package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

// TestInboxPaneInChromium drives the conversation pane as an agent would:
// a draft survives live updates (an inbound message, a priority change
// through the API) and a reload, and is gone once sent; a private note
// looks unlike a reply and stays private; a reply that fails says why with a
// Retry; the composer is in view next to a long list and a long thread; at
// 390 px nothing scrolls sideways. Screenshots go to artifacts/browser.
func TestInboxPaneInChromium(t *testing.T) {
	f := newFixture(t)
	wa, _, waConv, _ := withChannels(t, f)
	conv := f.convID
	// A long list and a long thread.
	for i := 0; i < 40; i++ {
		if _, err := f.srv.Inbox.Ingest(bg, inbox.Inbound{Channel: "api", Identifier: fmt.Sprintf("+1555020%02d", i),
			ContactName: fmt.Sprintf("Customer %02d", i), ExternalID: fmt.Sprintf("list-%d", i), Body: "A question"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 30; i++ {
		if _, err := f.srv.Inbox.Ingest(bg, inbox.Inbound{Channel: "api", Identifier: "+15550100", ContactName: "Ada Lovelace",
			ExternalID: fmt.Sprintf("thread-%d", i), Body: fmt.Sprintf("Line %d of a long story", i)}); err != nil {
			t.Fatal(err)
		}
	}
	br := newBrowserRun(t, "pane")
	shots, step, eval, shot := br.shots, br.step, br.eval, br.shot
	// view takes what the screen shows (the phone's composer sits at its bottom).
	view := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			buf, err := chromedp.CaptureScreenshot()(ctx, tg)
			if err != nil {
				return chromedp.Void{}, err
			}
			return chromedp.Void{}, os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		}
	}
	convURL := fmt.Sprintf("%s/inbox/conversations/%d?view=all", f.ts.URL, conv)
	replyValue := `document.getElementById("reply").value`

	t.Log("1. a draft survives an inbound message and a priority change, then a reload")
	draft := "Dear Ada, about your order"
	step("type a draft",
		chromedp.EmulateViewport(1366, 768),
		signIn(f.ts.URL, "agent@acme.example"),
		chromedp.WaitVisible(chromedp.CSS(".inbox")),
		shot("pane-inbox-1366"),
		chromedp.Navigate(convURL),
		chromedp.WaitVisible(chromedp.ID("#reply")),
		chromedp.Sleep(300*time.Millisecond), // the event stream opens
		chromedp.SendKeys(chromedp.ID("#reply"), draft),
		// Tick a box in the list too: a selection survives as well.
		chromedp.Click(chromedp.CSS(`#conversation-list input[name=ids]`)),
	)
	if got := eval(`String(document.activeElement && document.activeElement.name)`); got != "ids" {
		t.Logf("focus after ticking a box: %s", got)
	}
	if r := f.api(auth.Agent, http.MethodPost, "/api/v1/messages",
		`{"contact":{"identifier":"+15550100","name":"Ada Lovelace"},"messageId":"live-1","text":"Any news on my parcel?"}`); r.StatusCode != http.StatusCreated && r.StatusCode != http.StatusOK {
		t.Fatalf("inbound message: %d %s", r.StatusCode, readBody(t, r))
	}
	if r := f.api(auth.Agent, http.MethodPatch, fmt.Sprintf("/api/v1/conversations/%d", conv), `{"priority":"urgent"}`); r.StatusCode != http.StatusOK {
		t.Fatalf("priority: %d %s", r.StatusCode, readBody(t, r))
	}
	step("live updates arrive",
		chromedp.WaitVisible(chromedp.Search(`//li[@data-testid='message'][contains(., 'Any news on my parcel?')]`)),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'event')][contains(., 'urgent')]`)),
	)
	if got := eval(replyValue); got != draft {
		t.Fatalf("after live updates the reply box holds %q, want %q", got, draft)
	}
	if got := eval(`String(document.querySelector("#conversation-list input[name=ids]").checked)`); got != "true" {
		t.Errorf("the ticked conversation was unticked by a live update")
	}
	if got := eval(`(function(){var m=document.querySelector(".messages");return String(m.scrollHeight-m.scrollTop-m.clientHeight<40)})()`); got != "true" {
		t.Errorf("the thread does not show its newest message")
	}
	step("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("#reply")), chromedp.Sleep(200*time.Millisecond))
	if got := eval(replyValue); got != draft {
		t.Fatalf("after a reload the reply box holds %q, want the draft %q", got, draft)
	}

	t.Log("2. panes: the composer is in view beside a long list and thread; nothing reloads on send")
	if got := eval(`(function(){var r=document.querySelector("[data-testid=send]").getBoundingClientRect();return String(r.bottom<=innerHeight&&r.top>=0)})()`); got != "true" {
		t.Errorf("the Send button is outside the 1366x768 viewport")
	}
	if got := eval(`(function(){scrollTo(0,500);var y=scrollY;scrollTo(0,0);return String(y===0&&document.scrollingElement.scrollHeight<=innerHeight+1)})()`); got != "true" {
		t.Errorf("the inbox page itself scrolls at 1366x768; each pane should scroll on its own: %s",
			eval(`["body","main",".inbox",".list","#conversation-list",".thread",".conv-pane",".conv-body",".messages",".composer",".contact-panel"].map(function(s){var e=document.querySelector(s);return e?s+"="+Math.round(e.getBoundingClientRect().height)+"/"+e.scrollHeight:s+"=none"}).join(" ")`))
	}
	step("shot conversation", shot("pane-conversation-1366"))
	step("send",
		chromedp.Evaluate[chromedp.Void](`window.__samePage = 1`),
		chromedp.Click(chromedp.CSS(`[data-testid=send]`)),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'outgoing')][contains(., 'Dear Ada, about your order')]`)),
	)
	if got := eval(`String(window.__samePage === 1) + " " + ` + replyValue); got != "true " {
		t.Fatalf("after sending: same page and box %q, want %q", got, "true ")
	}
	if got := eval(`String(Object.keys(localStorage).filter(function(k){return k.indexOf("switchboard:draft:")===0}).length)`); got != "0" {
		t.Errorf("a sent reply left %s drafts in localStorage", got)
	}
	step("empty reply", chromedp.Click(chromedp.CSS(`[data-testid=send]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@class='field-error'][contains(., 'empty')]`)))

	t.Log("3. a private note looks different, says the customer will not see it, and is posted as a note")
	step("note mode",
		chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`),
		chromedp.KeyEvent("n"),
		chromedp.WaitVisible(chromedp.ID("#note")),
		chromedp.WaitVisible(chromedp.Search(`//p[@data-testid='note-label'][contains(., 'customer will not')]`)),
	)
	if got := eval(`getComputedStyle(document.querySelector(".composer")).backgroundColor + " " + getComputedStyle(document.getElementById("reply").closest(".composer-reply")).display`); !strings.HasSuffix(got, " none") || strings.HasPrefix(got, "rgb(255, 255, 255)") {
		t.Errorf("note mode: composer background and reply box display %q; want a coloured background and the reply box hidden", got)
	}
	step("add a note", chromedp.SendKeys(chromedp.ID("#note"), "Checked with the warehouse"), shot("pane-note-1366"),
		chromedp.Click(chromedp.CSS(`[data-testid=add-note]`)),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'note')][contains(., 'Checked with the warehouse')]`)))
	var notes int
	if err := f.st.Pool.QueryRow(bg, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND direction = 'note' AND body = 'Checked with the warehouse'`, conv).Scan(&notes); err != nil || notes != 1 {
		var bodies []string
		rows, _ := f.st.Pool.Query(bg, `SELECT direction || ': ' || body FROM messages WHERE conversation_id = $1 ORDER BY id DESC LIMIT 3`, conv)
		for rows != nil && rows.Next() {
			var b string
			_ = rows.Scan(&b)
			bodies = append(bodies, b)
		}
		t.Fatalf("notes stored: %d (%v); the newest messages: %q", notes, err, bodies)
	}

	t.Log("4. a reply that fails says why, live, with a Retry")
	wa.mu.Lock()
	wa.fail = adapter.Permanent(errors.New("the provider refused it: 131026 undeliverable"))
	wa.mu.Unlock()
	step("reply on WhatsApp",
		chromedp.Navigate(fmt.Sprintf("%s/inbox/conversations/%d", f.ts.URL, waConv)),
		chromedp.WaitVisible(chromedp.ID("#reply")),
		chromedp.Sleep(300*time.Millisecond),
		chromedp.SendKeys(chromedp.ID("#reply"), "Your parcel is on its way"),
		chromedp.Click(chromedp.CSS(`[data-testid=send]`)),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'outgoing')][contains(., 'Your parcel is on its way')]`)),
	)
	f.deliverOutbox()
	step("failure shown live",
		chromedp.WaitVisible(chromedp.Search(`//div[@data-testid='failure'][contains(., 'Not delivered: the provider refused it: 131026 undeliverable')]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=retry].danger`)),
		shot("pane-failed-1366"),
	)

	t.Log("5. a phone: the list or the conversation, nothing sideways, the composer at hand")
	overflow := `(function(){var w=document.documentElement.clientWidth;var bad=[];document.querySelectorAll("body *").forEach(function(e){var r=e.getBoundingClientRect();if(r.width&&r.right>w+1&&getComputedStyle(e).position!=="fixed"&&!e.closest(".sr-only"))bad.push(e.tagName+"."+e.className)});return String(document.scrollingElement.scrollWidth>w)+" "+bad.slice(0,5).join(",")})()`
	step("phone inbox", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		chromedp.Navigate(f.ts.URL+"/inbox?view=all"), chromedp.WaitVisible(chromedp.CSS(".list")), shot("pane-inbox-390"))
	if got := eval(overflow); !strings.HasPrefix(got, "false") {
		t.Errorf("the inbox at 390 px scrolls sideways: %s", got)
	}
	step("phone conversation", chromedp.Navigate(convURL), chromedp.WaitVisible(chromedp.ID("#reply")),
		chromedp.WaitVisible(chromedp.CSS("a.back")), chromedp.Sleep(300*time.Millisecond), view("pane-conversation-390"))
	if got := eval(`(function(){var m=document.querySelectorAll(".messages > li");var r=m[m.length-1].getBoundingClientRect();return String(r.bottom>0&&r.top<innerHeight)})()`); got != "true" {
		t.Errorf("on a phone the newest message is not on screen when the conversation opens")
	}
	if got := eval(overflow); !strings.HasPrefix(got, "false") {
		t.Errorf("a conversation at 390 px scrolls sideways: %s", got)
	}
	if got := eval(`(function(){var r=document.querySelector("[data-testid=send]").getBoundingClientRect();return String(r.bottom<=innerHeight)})()`); got != "true" {
		t.Errorf("on a phone the Send button is below the screen")
	}
}
