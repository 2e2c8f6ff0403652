package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestSearchInChromium searches from the top bar in headless Chromium: a
// partial name finds the contact and their conversation, a partial word
// finds the message with the match marked, and each result opens (the
// message in its conversation, scrolled to and marked as the target). A
// one-letter search is refused next to the field with what was typed kept.
// At 390 px the results do not scroll sideways. Screenshots go to
// artifacts/browser.
func TestSearchInChromium(t *testing.T) {
	f := newFixture(t)
	d := seedSearch(t, f)
	shots := browserArtifacts(t)

	bctx := chromiumContext(t)
	eval := func(js string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			dctx, dcancel := context.WithTimeout(bctx, 5*time.Second)
			defer dcancel()
			html, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 2000)`))
			t.Fatalf("%s: %v\n%s", name, err, html)
		}
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

	step("sign in",
		chromedp.EmulateViewport(1366, 900),
		signIn(f.ts.URL, "viewer@acme.example"),
		chromedp.WaitVisible(chromedp.CSS(".inbox")),
	)
	step("search a partial name from the top bar",
		chromedp.SendKeys(chromedp.ID("#topq"), "hopp\r"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=search-contacts]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=search-conversations]`)),
		shot("search-1366"),
	)
	if got := eval(`document.getElementById("sq").value + "|" + document.getElementById("topq").value`); got != "hopp|hopp" {
		t.Errorf("the search fields hold %q, want what was typed", got)
	}
	step("open the contact",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[data-contact="%d"]`, d.grace.ID))),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'Grace Hopper')]`)),
	)
	if got := eval(`location.pathname`); got != fmt.Sprintf("/contacts/%d", d.grace.ID) {
		t.Errorf("the contact result opened %s", got)
	}

	step("search a partial word of a message",
		chromedp.Navigate(f.ts.URL+"/inbox"),
		chromedp.WaitVisible(chromedp.ID("#topq")),
		chromedp.SendKeys(chromedp.ID("#topq"), "nanosec\r"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=search-messages] mark`)),
	)
	if got := eval(`document.querySelector("[data-testid=search-messages] mark").textContent`); got != "nanosec" {
		t.Errorf("marked %q, want the part typed", got)
	}
	step("open the message in its conversation",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[data-message="%d"]`, d.msg))),
		chromedp.WaitVisible(chromedp.ID(fmt.Sprintf("#msg-%d", d.msg))),
	)
	if got := eval(`location.pathname + location.hash + "|" + (document.querySelector(":target") || {}).id`); got != fmt.Sprintf("/inbox/conversations/%d#msg-%d|msg-%d", d.conv, d.msg, d.msg) {
		t.Errorf("the message result opened %q", got)
	}
	// The list beside it is filtered by the same words.
	if got := eval(`String(!!document.getElementById("conv-` + fmt.Sprint(d.conv) + `")) + "|" + document.getElementById("q").value`); got != "true|nanosec" {
		t.Errorf("the list beside the message: %q, want the conversation, filtered by the search", got)
	}

	step("a one-letter search",
		chromedp.Navigate(f.ts.URL+"/search?q=hopp"),
		chromedp.WaitVisible(chromedp.ID("#sq")),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("sq").value = ""`),
		chromedp.SendKeys(chromedp.ID("#sq"), "h\r"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=search-error]`)),
	)
	if got := eval(`document.querySelector("[data-testid=search-error]").textContent + "|" + document.getElementById("sq").value + "|" + document.getElementById("sq").getAttribute("aria-invalid")`); !strings.Contains(got, "at least 2 letters or digits|h|true") {
		t.Errorf("a one-letter search shows %q", got)
	}

	overflow := `(function(){var w=document.documentElement.clientWidth;var bad=[];document.querySelectorAll("body *").forEach(function(e){var r=e.getBoundingClientRect();if(r.width&&r.right>w+1&&getComputedStyle(e).position!=="fixed"&&!e.closest(".sr-only"))bad.push(e.tagName+"."+e.className)});return String(document.scrollingElement.scrollWidth>w)+" "+bad.slice(0,5).join(",")})()`
	step("a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		chromedp.Navigate(f.ts.URL+"/search?q=refu"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=search-messages]`)), shot("search-390"))
	if got := eval(overflow); !strings.HasPrefix(got, "false") {
		t.Errorf("search at 390 px scrolls sideways: %s", got)
	}
}
