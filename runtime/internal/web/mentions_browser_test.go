package web

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// TestMentionsInChromium: agent A writes a private note and mentions the
// viewer B with the "@" autocomplete (two members share the first name
// "Vi", so the list is walked with the arrow keys); B's open page shows the
// bell's count go up with no reload; B opens the notification from the bell
// and lands on the conversation at the note; a second mention is marked
// read on the /notifications page, and the count goes. At 390 px the list
// does not scroll sideways. Screenshots go to artifacts/browser.
func TestMentionsInChromium(t *testing.T) {
	f := newFixture(t)
	// A second "Vi…" member: the autocomplete offers both, and the handle
	// inserted names the right one.
	hash, _ := auth.HashPassword("password-for-tests")
	if _, err := f.st.CreateUser(bg, f.st.Pool, &store.User{Email: "vivian@acme.example", Name: "Vivian Vale", Role: "agent", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	shots := browserArtifacts(t)
	a, b := chromiumContext(t), chromiumContext(t)
	run := func(bctx context.Context, name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			buf, _ := chromedp.Run(bctx, chromedp.FullScreenshot(100))
			_ = os.WriteFile(filepath.Join(shots, "failed-mentions-"+strings.ReplaceAll(name, " ", "-")+".png"), buf, 0o644)
			t.Fatalf("%s: %v", name, err)
		}
	}
	eval := func(bctx context.Context, js string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			buf, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return chromedp.Void{}, err
			}
			return chromedp.Void{}, os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		}
	}
	login := func(email string) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{
			chromedp.EmulateViewport(1366, 768),
			signIn(f.ts.URL, email),
			chromedp.WaitVisible(chromedp.CSS(".topbar")),
		}
	}
	convPath := fmt.Sprintf("/inbox/conversations/%d", f.convID)

	t.Log("B, a viewer, has a page open with an empty bell")
	run(b, "B signs in", append(login("viewer@acme.example"),
		chromedp.Navigate(f.ts.URL+"/contacts"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=bell]`)),
		chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`),
		chromedp.Sleep(300*time.Millisecond), // the event stream opens
	)...)
	if got := eval(b, `String(document.querySelectorAll("[data-testid=bell-count]").length)`); got != "0" {
		t.Fatalf("B's bell counts before any mention: %s", got)
	}

	t.Log("A writes a note and mentions B with the autocomplete")
	run(a, "A writes a note", append(login("agent@acme.example"),
		chromedp.Navigate(f.ts.URL+convPath),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=mode-note]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=mode-note]`)),
		chromedp.WaitVisible(chromedp.ID("#note")),
		chromedp.SendKeys(chromedp.ID("#note"), "Can you check this, @vi"),
		chromedp.WaitVisible(chromedp.CSS(`.mention-menu li`)),
		shot("mentions-autocomplete-1366"),
	)...)
	if got := eval(a, `Array.prototype.map.call(document.querySelectorAll(".mention-menu li strong"), function(e){return e.textContent}).join("|")`); got != "Viewer|Vivian Vale" {
		t.Errorf("offered for @vi: %q, want Viewer|Vivian Vale", got)
	}
	// Down to Vivian, up to Viewer, Enter picks.
	run(a, "pick with the keyboard",
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.KeyEvent(kb.ArrowUp),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitNotPresent(chromedp.CSS(`.mention-menu`)),
	)
	if got := eval(a, `document.getElementById("note").value`); got != "Can you check this, @Viewer " {
		t.Fatalf("after picking, the note reads %q", got)
	}
	run(a, "add the note",
		chromedp.SendKeys(chromedp.ID("#note"), "please?"),
		chromedp.Click(chromedp.CSS(`[data-testid=add-note]`)),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'note')][contains(., '@Viewer please?')]`)),
	)

	t.Log("B's bell counts it, live")
	run(b, "the bell counts 1", chromedp.WaitVisible(chromedp.Search(`//*[@data-testid='bell-count'][normalize-space(.)='1']`)))
	if got := eval(b, `String(window.__notReloaded === true)`); got != "true" {
		t.Error("B's page reloaded to show the count")
	}
	run(b, "open the bell", chromedp.Click(chromedp.CSS(`[data-testid=bell] summary`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=bell-item]`)), shot("mentions-bell-1366"),
		chromedp.Click(chromedp.CSS(`[data-testid=bell-item]`)),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'note')][contains(., '@Viewer please?')]`)),
	)
	if got := eval(b, `location.pathname + location.hash`); !strings.HasPrefix(got, convPath+"#msg-") {
		t.Errorf("B landed on %q, want the conversation at the note", got)
	}
	if got := eval(b, `String(document.querySelectorAll("[data-testid=bell-count]").length)`); got != "0" {
		t.Errorf("the opened notification is still counted")
	}

	t.Log("a second mention shows on the open list at once, and is marked read there")
	run(b, "open the list", chromedp.Navigate(f.ts.URL+"/notifications"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=notifications]`)),
		chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`), chromedp.Sleep(300*time.Millisecond))
	if r := f.api(auth.Agent, http.MethodPost, "/api/v1/conversations/"+fmt.Sprint(f.convID)+"/notes", `{"text":"@Viewer one more"}`); r.StatusCode != http.StatusCreated {
		t.Fatalf("second note: %d %s", r.StatusCode, readBody(t, r))
	}
	run(b, "the bell and the list show it",
		chromedp.WaitVisible(chromedp.Search(`//*[@data-testid='bell-count'][normalize-space(.)='1']`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=mark-read]`)),
	)
	if got := eval(b, `String(window.__notReloaded === true)`); got != "true" {
		t.Error("the list reloaded to show the new mention")
	}
	run(b, "mark it read", shot("mentions-notifications-1366"),
		chromedp.Click(chromedp.CSS(`[data-testid=mark-read]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-testid=mark-read]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-testid=bell-count]`)),
	)
	if c, _ := f.st.UnreadNotifications(bg, f.users[auth.Viewer].ID); c != 0 {
		t.Errorf("B has %d unread after marking read", c)
	}

	t.Log("at 390 px nothing scrolls sideways")
	run(b, "phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(f.ts.URL+"/notifications"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=notifications]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=bell] summary`)),
		chromedp.WaitVisible(chromedp.CSS(`.bell-panel`)), shot("mentions-notifications-390"))
	if got := eval(b, `String(document.documentElement.scrollWidth <= innerWidth)`); got != "true" {
		t.Errorf("/notifications at 390 px is %s px wide", eval(b, `String(document.documentElement.scrollWidth)`))
	}
	if got := eval(b, `(function(){var r=document.querySelector(".bell-panel").getBoundingClientRect();return String(r.left>=0&&r.right<=innerWidth)})()`); got != "true" {
		t.Errorf("the bell's panel leaves the screen at 390 px")
	}
}
