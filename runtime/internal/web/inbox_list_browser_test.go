package web

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// TestInboxListInChromium drives the list, the routing sidebar and the
// keyboard in headless Chromium, as a Berlin agent: the filter survives
// opening a conversation and j/k stay in the view; a bulk selection
// survives a live refresh of the list; an assignee change applies without
// Save and the timeline names the member; a past snooze is refused inline
// keeping the typed value; a snooze typed in Berlin is stored at the right
// instant; ? and Ctrl+K open their dialogs; at 390 px the views are
// reachable and nothing scrolls sideways.
func TestInboxListInChromium(t *testing.T) {
	f := newFixture(t)
	agent := f.users[auth.Agent]
	if _, err := f.st.Pool.Exec(bg, `UPDATE users SET time_zone = 'Europe/Berlin' WHERE id = $1`, agent.ID); err != nil {
		t.Fatal(err)
	}
	var mine []int64
	for i := 0; i < 3; i++ {
		res, err := f.srv.Inbox.Ingest(bg, inbox.Inbound{Channel: "api", Identifier: fmt.Sprintf("+1555040%d", i), ContactName: fmt.Sprintf("Mina %c", 'A'+i), ExternalID: fmt.Sprintf("b%d", i), Body: "where is my parcel"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.srv.Inbox.Update(bg, agent.ID, res.Conversation.ID, storeChangeAssign(&agent.ID)); err != nil {
			t.Fatal(err)
		}
		mine = append(mine, res.Conversation.ID)
	}
	base := f.ts.URL
	bctx := chromiumContext(t)
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}
	// openID is the conversation the address bar shows, and checks the
	// address keeps the Mine view.
	openID := func() int64 {
		t.Helper()
		u, err := url.Parse(eval(`location.href`))
		if err != nil {
			t.Fatal(err)
		}
		if u.Query().Get("view") != "mine" {
			t.Fatalf("the address dropped the view: %s", u)
		}
		id, _ := strconv.ParseInt(strings.TrimPrefix(u.Path, "/inbox/conversations/"), 10, 64)
		return id
	}
	shots := listArtifacts(t)
	shot := func(name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err == nil {
			err = os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		}
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
	// waitFor polls a JavaScript condition for up to 10 s.
	waitFor := func(js string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); eval(`String(`+js+`)`) != "true"; {
			if time.Now().After(deadline) {
				t.Fatalf("still not true after 10 s: %s", js)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	zone := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Berlin"})
		return err
	})

	t.Log("1. a Berlin agent opens a conversation from Mine; the view stays, and j/k walk only its conversations")
	step("sign in", zone,
		chromedp.EmulateViewport(1366, 900),
		signIn(base, "agent@acme.example"),
		chromedp.WaitVisible(chromedp.CSS(".inbox")),
		chromedp.Navigate(base+"/inbox?view=mine"),
		chromedp.WaitVisible(chromedp.CSS(".conv-link")),
		chromedp.Click(chromedp.CSS(".conv-link")),
		chromedp.WaitVisible(chromedp.CSS(".conv-pane")),
	)
	if got := eval(`Intl.DateTimeFormat().resolvedOptions().timeZone`); got != "Europe/Berlin" {
		t.Fatalf("the browser's zone is %s", got)
	}
	first := openID()
	if !slices.Contains(mine, first) {
		t.Fatalf("opened %d, not one of Mine %v", first, mine)
	}
	if got := eval(`document.querySelector('.views a[aria-current=page]').dataset.view`); got != "mine" {
		t.Fatalf("the current view is %q", got)
	}
	seen := map[int64]bool{first: true}
	for _, key := range []string{"j", "j", "j", "k"} {
		before := eval(`location.href`)
		step("press "+key, chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`), chromedp.KeyEvent(key))
		deadline := time.Now().Add(10 * time.Second)
		for eval(`location.href`) == before && time.Now().Before(deadline) && !(key == "j" && len(seen) == 3) {
			time.Sleep(100 * time.Millisecond)
		}
		step("the pane", chromedp.WaitVisible(chromedp.CSS(".conv-pane")))
		id := openID()
		if !slices.Contains(mine, id) {
			t.Fatalf("%s opened conversation %d, outside Mine %v", key, id, mine)
		}
		seen[id] = true
	}
	if len(seen) != 3 {
		t.Fatalf("j/k visited %v, want all of Mine %v", seen, mine)
	}
	if n := eval(`String(document.querySelectorAll('.conversations .conv').length)`); n != "3" {
		t.Fatalf("the list shows %s conversations, want Mine's 3", n)
	}

	t.Log("2. a bulk selection survives a live refresh of the list")
	step("select", chromedp.Click(chromedp.CSS(fmt.Sprintf(`.conv[data-id="%d"] input[name=ids]`, mine[0]))))
	res, err := f.srv.Inbox.Ingest(bg, inbox.Inbound{Channel: "api", Identifier: "+15550400", ContactName: "Mina A", ExternalID: "b-new", Body: "any news on the parcel?"})
	if err != nil || res.Conversation.ID != mine[0] {
		t.Fatalf("ingest: %v", err)
	}
	step("the list refreshes", chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'conv')]//span[contains(@class,'preview')][contains(., 'any news on the parcel')]`)))
	if got := eval(fmt.Sprintf(`String(document.querySelector('.conv[data-id="%d"] input[name=ids]').checked)`, mine[0])); got != "true" {
		t.Fatal("the live refresh cleared the bulk selection")
	}

	t.Log("3. the assignee applies when chosen, without a reload, and the timeline names the member")
	admin := f.users[auth.Admin]
	step("assign to Admin",
		chromedp.Evaluate[chromedp.Void](`window.__stay = 1`),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(function(){var s=document.getElementById("assignee");s.value="%d";s.dispatchEvent(new Event("change",{bubbles:true}));})()`, admin.ID)),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'event')][contains(., 'assigned it to Admin')]`)),
	)
	if eval(`String(window.__stay)`) != "1" {
		t.Fatal("the assignee change reloaded the page")
	}
	conv := openID()
	if c, _ := f.st.ConversationByID(bg, nil, conv); c.AssigneeID == nil || *c.AssigneeID != admin.ID {
		t.Fatalf("assignee %v", c.AssigneeID)
	}

	t.Log("4. a snooze in the past is refused next to the field, keeping what was typed")
	step("past snooze",
		chromedp.SetValue(chromedp.ID("#snooze_until"), "2020-01-01T09:00"),
		chromedp.Click(chromedp.CSS(".snooze-custom button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".snooze-custom .field-error")),
	)
	if got := eval(`document.getElementById("snooze_until").value`); got != "2020-01-01T09:00" {
		t.Fatalf("the typed time became %q", got)
	}
	if got := eval(`document.querySelector(".snooze-custom .field-error").textContent`); !strings.Contains(got, "passed") {
		t.Fatalf("the error says %q", got)
	}

	t.Log("5. 09:00 typed in Berlin is stored as 08:00 UTC (winter)")
	year := time.Now().Year() + 1
	step("snooze",
		chromedp.SetValue(chromedp.ID("#snooze_until"), fmt.Sprintf("%d-01-15T09:00", year)),
		chromedp.Click(chromedp.CSS(".snooze-custom button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("[data-testid=snoozed-until]")),
	)
	if c, _ := f.st.ConversationByID(bg, nil, conv); c.SnoozedUntil == nil || !c.SnoozedUntil.Equal(time.Date(year, 1, 15, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("stored %v, want %d-01-15 08:00 UTC", c.SnoozedUntil, year)
	}
	if got := eval(`document.querySelector("[data-testid=snoozed-until]").textContent`); !strings.Contains(got, "09:00") {
		t.Fatalf("the sidebar shows %q, not Berlin's 09:00", got)
	}
	if n := eval(`String([].filter.call(document.querySelectorAll(".messages .event"), function (e) { return /snoozed it until/.test(e.textContent); }).length)`); n != "1" {
		t.Fatalf("the timeline shows %s snoozes, want 1 (a form posted twice?)", n)
	}

	t.Log("6. a assigns to me, l labels, × removes the tag")
	step("a",
		chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`),
		chromedp.KeyEvent("a"),
	)
	waitFor(`[].filter.call(document.querySelectorAll(".messages .event"), function (e) { return /assigned it to Agent/.test(e.textContent); }).length === 2`)
	if c, _ := f.st.ConversationByID(bg, nil, conv); c.AssigneeID == nil || *c.AssigneeID != agent.ID {
		t.Fatalf("a: assignee %v", c.AssigneeID)
	}
	step("l",
		chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`),
		chromedp.KeyEvent("l"),
	)
	if got := eval(`document.activeElement.id`); got != "add_tags" {
		t.Fatalf("l focused %q", got)
	}
	step("tag", chromedp.SendKeys(chromedp.ID("#add_tags"), "vip\r"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=tags] button[aria-label="Remove tag vip"]`)))
	if got := eval(`document.getElementById("add_tags").value`); got != "" {
		t.Fatalf("the tag box kept %q after adding", got)
	}
	step("untag", chromedp.Click(chromedp.CSS(`[data-testid=tags] button[aria-label="Remove tag vip"]`)),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'event')][contains(., 'removed tag #vip')]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-testid=tags] button[aria-label="Remove tag vip"]`)))
	shot("inbox-list-routing-1366")

	t.Log("7. ? lists the shortcuts; Esc closes it; Ctrl+K goes to a view")
	step("help",
		chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`),
		chromedp.KeyEvent("?"),
		chromedp.WaitVisible(chromedp.CSS("dialog#shortcut-help[open]")),
	)
	if got := eval(`document.querySelector("#shortcut-help").textContent`); !strings.Contains(got, "Assign to me") || !strings.Contains(got, "Snooze") {
		t.Fatalf("the help lacks shortcuts: %q", got)
	}
	shot("inbox-shortcuts-1366")
	step("esc", chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("dialog#shortcut-help[open]")))
	step("command bar",
		chromedp.KeyEvent("k", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.WaitVisible(chromedp.CSS("dialog#command-bar[open] input")),
		chromedp.SendKeys(chromedp.ID("#command-input"), "unassig"),
	)
	shot("inbox-command-bar-1366")
	step("run the command",
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS(`.views a[aria-current=page][data-view=unassigned]`)),
	)

	t.Log("8. at 390 px the views open from a button and nothing scrolls sideways")
	step("phone",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		chromedp.Navigate(base+"/inbox?view=mine"),
		chromedp.WaitVisible(chromedp.CSS(".views-toggle")),
	)
	if eval(`getComputedStyle(document.querySelector(".views")).display`) != "none" {
		t.Fatal("the views take the phone's screen before they are asked for")
	}
	step("open the views", chromedp.Click(chromedp.CSS(".views-toggle")), chromedp.WaitVisible(chromedp.CSS(`.views a[data-view=all]`)))
	wide := func(where string) {
		t.Helper()
		if w := eval(`String(document.documentElement.scrollWidth)`); w != "390" {
			t.Fatalf("%s is %s px wide at 390 px", where, w)
		}
	}
	wide("the list with its views open")
	shot("inbox-views-390")
	step("pick All", chromedp.Click(chromedp.CSS(`.views a[data-view=all]`)), chromedp.WaitVisible(chromedp.CSS(`.views-toggle`)))
	if !strings.Contains(eval(`location.search`), "view=all") {
		t.Fatal("the phone's views do not navigate")
	}
	step("a conversation", chromedp.Navigate(fmt.Sprintf("%s/inbox/conversations/%d?view=all", base, conv)), chromedp.WaitVisible(chromedp.CSS(".contact-panel")))
	wide("a conversation")
}

// listArtifacts is where this test's screenshots go: $SWITCHBOARD_ARTIFACTS
// or artifacts/browser at the repository's root.
func listArtifacts(t *testing.T) string {
	dir := os.Getenv("SWITCHBOARD_ARTIFACTS")
	if dir == "" {
		root, err := harness.Root()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "artifacts", "browser")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
