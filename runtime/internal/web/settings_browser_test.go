package web

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

// TestSettingsInChromium: the settings sections, a time zone chosen on the
// profile, a duplicate team refused inline keeping what was typed, the
// shortcut's pattern checked by the browser, a canned reply edited, an
// invite given a new link and revoked, and at 390 px neither the settings
// pages nor the audit log scroll sideways. Screenshots of every settings
// page at 1366 and 390 px go to artifacts/browser.
func TestSettingsInChromium(t *testing.T) {
	f := newFixture(t)
	br := newBrowserRun(t, "settings")
	step, eval, shot := br.step, br.eval, br.shot
	notice := func(text string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.Search(`//*[@data-testid='notice'][contains(., "` + text + `")]`))
	}

	t.Log("1. /settings opens the profile; the browser's zone is sent; the member picks Berlin")
	step("profile",
		chromedp.EmulateViewport(1366, 768),
		signIn(f.ts.URL, "owner@acme.example"),
		chromedp.WaitVisible(chromedp.CSS(".topbar")),
		chromedp.Navigate(f.ts.URL+"/settings"),
		chromedp.WaitVisible(chromedp.ID("#p-tz")),
	)
	if got := eval(`location.pathname + " " + String(document.cookie.indexOf("tz=") >= 0)`); got != "/settings/profile true" {
		t.Fatalf("/settings went to %q (path, tz cookie set)", got)
	}
	step("pick Berlin",
		chromedp.SetValue(chromedp.ID("#p-tz"), "Europe/Berlin"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Save profile')]`)),
		notice("Profile saved."),
	)
	if u, _ := f.srv.Users.ByID(bg, f.users[auth.Owner].ID); u.TimeZone != "Europe/Berlin" {
		t.Fatalf("zone saved: %q", u.TimeZone)
	}
	if got := eval(`document.getElementById("p-tz").value`); got != "Europe/Berlin" {
		t.Errorf("the profile shows zone %q", got)
	}

	t.Log("2. a duplicate team is refused next to the field, keeping the name typed")
	step("team",
		chromedp.Navigate(f.ts.URL+"/settings/team"),
		chromedp.WaitVisible(chromedp.ID("#team-name")),
		chromedp.SendKeys(chromedp.ID("#team-name"), "Billing"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Add team')]`)),
		notice("Team created."),
		chromedp.SendKeys(chromedp.ID("#team-name"), "Billing"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Add team')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#team-name[aria-invalid=true]`)),
	)
	if got := eval(`document.getElementById("team-name").value + "|" + document.querySelector("#team-name ~ .field-error, .field-error").textContent`); !strings.HasPrefix(got, "Billing|") || !strings.Contains(got, "already a team") {
		t.Errorf("duplicate team: %q", got)
	}

	t.Log("3. the shortcut's pattern compiles in Chrome and flags a bad shortcut")
	if got := eval(`(() => { const i = document.getElementById("c-short"); i.value = "Bad Name"; const bad = i.validity.patternMismatch;
		i.value = "good_name-1"; const good = i.validity.valid; i.value = ""; return bad + " " + good; })()`); got != "true true" {
		t.Fatalf("shortcut validity (bad flagged, good valid): %q", got)
	}

	t.Log("4. a canned reply is made, then edited")
	step("canned",
		chromedp.SendKeys(chromedp.ID("#c-short"), "thanks"),
		chromedp.SendKeys(chromedp.ID("#c-title"), "Thanks"),
		chromedp.SendKeys(chromedp.ID("#c-body"), "Thank you!"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Add canned reply')]`)),
		notice("Canned reply saved."),
		chromedp.Click(chromedp.Search(`//ul[@data-testid='canned']//a[contains(., 'Edit')]`)),
		chromedp.WaitVisible(chromedp.ID("#canned-form")),
		shot("settings-canned-1366"),
		chromedp.SetValue(chromedp.ID("#c-title"), "Thanks for waiting"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Save canned reply')]`)),
		notice("Canned reply saved."),
		chromedp.WaitVisible(chromedp.Search(`//ul[@data-testid='canned']//li[contains(., 'Thanks for waiting')]`)),
	)

	t.Log("5. an invite gets a new link, then is revoked")
	var first, second string
	step("invite",
		chromedp.SendKeys(chromedp.ID("#invite-email"), "new@acme.example"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Create invite link')]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=secret] input`)),
	)
	first = eval(`document.querySelector("[data-testid=secret] input").value`)
	step("new link",
		chromedp.Click(chromedp.CSS(`li[data-invite="new@acme.example"] button[name=resend]`)),
		notice("previous link no longer works"),
	)
	second = eval(`document.querySelector("[data-testid=secret] input").value`)
	if first == second || !strings.Contains(second, "/invite/") {
		t.Fatalf("links %q then %q", first, second)
	}
	if _, err := f.srv.Invites.ByToken(bg, first[strings.LastIndex(first, "/")+1:]); err == nil {
		t.Error("the first link still works")
	}
	step("revoke",
		shot("settings-team-1366"),
		chromedp.Click(chromedp.CSS(`li[data-invite="new@acme.example"] button[name=revoke]`)),
		notice("Invite revoked"),
	)
	if p, _ := f.srv.Invites.Pending(bg); len(p) != 0 {
		t.Errorf("%d invites pending after revoke", len(p))
	}

	t.Log("6. every section at 1366 and 390 px; nothing scrolls sideways at 390")
	pages := []struct{ name, path string }{
		{"profile", "/settings/profile"}, {"team", "/settings/team"}, {"channels", "/settings/channels"},
		{"api", "/settings/api"}, {"security", "/settings/security"}, {"audit", "/audit"},
	}
	for _, width := range []int64{1366, 390} {
		for _, p := range pages {
			name := "settings-" + p.name + "-" + map[int64]string{1366: "1366", 390: "390"}[width]
			vp := chromedp.EmulateViewport(1366, 900)
			if width == 390 {
				vp = chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2))
			}
			step(name, vp, chromedp.Navigate(f.ts.URL+p.path), chromedp.WaitVisible(chromedp.CSS("#main")), shot(name))
			if width == 390 {
				if got := eval(`String(document.documentElement.scrollWidth)`); got != "390" {
					t.Errorf("%s at 390 px is %s px wide", p.path, got)
				}
			}
		}
	}
}
