package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// TestRequestQueueInChromium: an admin opens /requests, files an erasure
// request for a contact found by email (an unknown email first, refused
// next to the field), opens it, is refused without the confirmation, erases
// with it, sees the request Completed with its counts, and the contact is
// gone. Screenshots of the queue, the request and the completed request go
// to artifacts/browser.
func TestRequestQueueInChromium(t *testing.T) {
	f := newFixture(t)
	f.withLedger(t)
	c, err := f.st.CreateContact(bg, nil, &store.Contact{Name: "Grace Hopper", Emails: []string{"grace@navy.example"}, Phones: []string{"+15550199"}})
	if err != nil {
		t.Fatal(err)
	}
	br := newBrowserRun(t, "requests")
	step, eval, shot := br.step, br.eval, br.shot
	notice := func(text string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.Search(`//*[@data-testid='notice'][contains(., "` + text + `")]`))
	}

	t.Log("1. the admin opens the queue and the new-request form")
	step("queue",
		chromedp.EmulateViewport(1366, 900),
		signIn(f.ts.URL, "admin@acme.example"),
		chromedp.WaitVisible(chromedp.CSS(".topbar")),
		chromedp.Click(chromedp.Search(`//nav//a[.='Requests']`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=requests]`)),
		shot("requests-queue-1366"),
		chromedp.Click(chromedp.CSS(`[data-testid=request-new]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=request-form]`)),
	)

	t.Log("2. an unknown email is refused next to the field; the contact's is found")
	eval(`document.getElementById("r-kind").value = "erasure"; ""`)
	step("unknown email",
		chromedp.SendKeys(chromedp.ID("#r-subject"), "nobody@navy.example"),
		chromedp.Click(chromedp.CSS(`[data-testid=request-create]`)),
		chromedp.WaitVisible(chromedp.CSS(`#r-subject[aria-invalid=true]`)),
	)
	if got := eval(`document.getElementById(document.getElementById("r-subject").getAttribute("aria-describedby")).textContent`); !strings.Contains(got, "No contact has this email address") {
		t.Errorf("the field error says %q", got)
	}
	step("file",
		chromedp.SetValue(chromedp.ID("#r-subject"), "grace@navy.example"),
		chromedp.Click(chromedp.CSS(`[data-testid=request-create]`)),
		notice("filed"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=request-action]`)),
		shot("requests-erasure-1366"),
	)
	if got := eval(`document.querySelector("[data-testid=request-facts]").textContent.replace(/\s+/g, " ")`); !strings.Contains(got, "Open") ||
		!strings.Contains(got, fmt.Sprintf("contact #%d", c.ID)) || !strings.Contains(got, "Grace Hopper") {
		t.Errorf("the request page says %q", got)
	}

	t.Log("3. erasing asks for the confirmation, then erases and completes")
	step("erase unconfirmed",
		chromedp.Click(chromedp.CSS(`[data-testid=request-erase]`)),
		chromedp.WaitVisible(chromedp.CSS(`[name=confirm][aria-invalid=true]`)),
	)
	step("erase",
		chromedp.Click(chromedp.CSS(`[data-testid=request-confirm]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=request-erase]`)),
		notice("completed"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=request-evidence]`)),
		shot("requests-completed-1366"),
	)
	if got := eval(`document.querySelector("[data-testid=request-status]").textContent + "|" + document.querySelector("[data-testid=request-evidence]").textContent.replace(/\s+/g, " ")`); !strings.HasPrefix(got, "Completed|") ||
		!strings.Contains(got, "erased") || !strings.Contains(got, "contacts: 1") {
		t.Errorf("the completed request says %q", got)
	}
	if _, err := f.st.ContactByID(bg, nil, c.ID); err != store.ErrNotFound {
		t.Errorf("the contact is still there: %v", err)
	}
	step("contacts",
		chromedp.Navigate(f.ts.URL+"/contacts"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=contacts]`)),
	)
	if got := eval(`document.querySelector("[data-testid=contacts]").textContent`); strings.Contains(got, "Grace Hopper") {
		t.Error("the contacts list still shows the erased contact")
	}
}
