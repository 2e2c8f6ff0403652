package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-dev/switchboard/runtime/emulators/placestest"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels/places"
)

// TestAddressAutocompleteInChromium runs static/app.js's address field in
// headless Chromium against the Places emulator behind the runtime's
// proxy: typing shows suggestions, picking one fills the field with the
// place's formatted address, and the browser's one session token carried
// every autocomplete request and the details request that ended it.
func TestAddressAutocompleteInChromium(t *testing.T) {
	f := newFixture(t)
	g := placestest.New()
	defer g.Close()
	set := newAdapterSet()
	set.open(t, "maps", places.Type, map[string]string{"apiBaseURL": g.URL}, map[string]string{"apiKey": g.APIKey})
	f.srv.Integrations = set

	bctx := chromiumContext(t)
	run := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			dctx, dcancel := context.WithTimeout(bctx, 5*time.Second)
			defer dcancel()
			html, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`(document.querySelector(".places-field") || document.body).outerHTML`))
			t.Fatalf("%s: %v\nthe field: %s\nGoogle saw: %+v", name, err, html, g.Requests())
		}
	}
	run("sign in and open the new-contact form",
		signIn(f.ts.URL, "agent@acme.example"),
		chromedp.WaitVisible(chromedp.CSS(".inbox")),
		chromedp.Navigate(f.ts.URL+"/contacts/new"),
		chromedp.WaitVisible(chromedp.ID("#n-address")),
		chromedp.SendKeys(chromedp.ID("#n-address"), "Baker"),
		chromedp.WaitVisible(chromedp.CSS(`.places-suggestions li[role=option]`)),
	)
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	shown, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`.places-suggestions`)))
	if err != nil || !strings.Contains(shown, "221B Baker Street") || !strings.Contains(shown, "powered by Google") {
		t.Fatalf("suggestions %q, %v", shown, err)
	}
	run("pick the suggestion",
		chromedp.Click(chromedp.CSS(`.places-suggestions li[role=option]`)),
	)
	var value string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if value, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("n-address").value`)); err != nil {
			t.Fatal(err)
		}
		if value == "221B Baker Street, London NW1 6XE, UK" { // the suggestion says "221B Baker Street, London, UK"
			break
		}
	}
	if value != "221B Baker Street, London NW1 6XE, UK" {
		t.Fatalf("the field holds %q", value)
	}
	sessions := g.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("%d sessions, want the browser's one: %v", len(sessions), sessions)
	}
	for token, s := range sessions {
		if !places.ValidSession(token) || s.Autocompletes < 1 || s.Details != 1 || s.Reused != 0 {
			t.Errorf("session %s: %+v, want autocompletes then one details", token, s)
		}
	}
	for _, r := range g.Requests() {
		if r.Key != g.APIKey {
			t.Errorf("%s reached Google without the key", r.Path)
		}
	}
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil || strings.Contains(html, g.APIKey) {
		t.Errorf("the page in the browser holds the API key (%v)", err)
	}

	run("a new address is a new session",
		chromedp.Evaluate[chromedp.Void](`document.getElementById("n-address").value = ""`),
		chromedp.SendKeys(chromedp.ID("#n-address"), "Rivoli"),
		chromedp.WaitVisible(chromedp.CSS(`.places-suggestions li[role=option]`)),
	)
	if n := len(g.Sessions()); n != 2 {
		t.Errorf("%d sessions after a second address, want 2", n)
	}

	g.FailWith("PERMISSION_DENIED")
	run("a refused lookup says so, without detail",
		chromedp.Evaluate[chromedp.Void](`document.getElementById("n-address").value = ""`),
		chromedp.SendKeys(chromedp.ID("#n-address"), "Downing"),
		chromedp.WaitVisible(chromedp.Search(`//ul[contains(@class,'places-suggestions')]/li[normalize-space(.)='address lookup unavailable']`)),
	)
}
