package web

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-dev/switchboard/test/harness"
)

// TestRectificationInChromium: a member changes their email from the
// profile page (a wrong password refused next to the field, then the
// pending change shown, the mailed link opened and confirmed in the same
// browser), and an agent deletes a company after its confirmation page.
// Screenshots of the profile with a pending change and of the
// confirmation pages go to artifacts/browser.
func TestRectificationInChromium(t *testing.T) {
	f := newFixture(t)
	s := seedCRM(t, f)
	mail, err := harness.StartMailServer(harness.MailOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mail.Close)
	f.withMailbox(t, mail)
	alice := mail.Address("alice")
	br := newBrowserRun(t, "rectification")
	step, eval, shot := br.step, br.eval, br.shot
	notice := func(text string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.Search(`//*[@data-testid='notice'][contains(., "` + text + `")]`))
	}

	t.Log("1. a wrong password is refused next to the field, keeping the new address")
	step("sign in",
		chromedp.EmulateViewport(1366, 900),
		signIn(f.ts.URL, "agent@acme.example"),
		chromedp.WaitVisible(chromedp.CSS(".topbar")),
		chromedp.Navigate(f.ts.URL+"/settings/profile"),
		chromedp.WaitVisible(chromedp.ID("#email-form")),
		chromedp.SendKeys(chromedp.ID("#e-new"), alice),
		chromedp.SendKeys(chromedp.ID("#e-password"), "not-my-password"),
		chromedp.Click(chromedp.CSS(`[data-testid=email-change]`)),
		chromedp.WaitVisible(chromedp.CSS(`#e-password[aria-invalid=true]`)),
	)
	if got := eval(`document.getElementById("e-new").value + "|" + document.getElementById(document.getElementById("e-password").getAttribute("aria-describedby")).textContent`); !strings.HasPrefix(got, alice+"|") || !strings.Contains(got, "wrong") {
		t.Errorf("after a wrong password: %q", got)
	}

	t.Log("2. with the right one, the link is mailed and the change shows as pending")
	step("request",
		chromedp.SetValue(chromedp.ID("#e-password"), "password-for-tests"),
		chromedp.Click(chromedp.CSS(`[data-testid=email-change]`)),
		notice("confirmation link"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=email-pending]`)),
		shot("rectification-profile-pending-1366"),
	)
	link := confirmationLink(t, mail, "alice", 1)
	if got := f.userEmail(t, "agent"); got != "agent@acme.example" {
		t.Errorf("email changed before confirming: %s", got)
	}

	t.Log("3. the link asks to confirm; confirming changes the address, and the profile shows it")
	step("confirm",
		chromedp.Navigate(f.ts.URL+link),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=email-change-confirm]`)),
		shot("rectification-email-confirm-1366"),
		chromedp.Click(chromedp.CSS(`[data-testid=email-change-confirm]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=email-change-done]`)),
		chromedp.Navigate(f.ts.URL+"/settings/profile"),
		chromedp.WaitVisible(chromedp.ID("#p-email")),
	)
	if got := eval(`document.getElementById("p-email").value + "|" + String(!!document.querySelector("[data-testid=email-pending]"))`); got != alice+"|false" {
		t.Errorf("profile after confirming: %q", got)
	}

	t.Log("4. a company is deleted after a confirmation that counts what stays")
	step("delete company",
		chromedp.Navigate(f.ts.URL+"/companies/"+itoa(s.company.ID)),
		chromedp.Click(chromedp.CSS(`[data-testid=company-delete]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=company-delete-what]`)),
		shot("rectification-company-delete-1366"),
	)
	if got := eval(`document.querySelector("[data-testid=company-delete-what]").textContent.replace(/\s+/g, " ").trim()`); !strings.Contains(got, "1 person stays") || !strings.Contains(got, "2 deals stay") {
		t.Errorf("company confirmation: %q", got)
	}
	step("confirm company delete",
		chromedp.Click(chromedp.CSS(`[data-testid=company-delete-confirm]`)),
		notice("Initech"),
	)
	if got := eval(`location.pathname`); got != "/companies" {
		t.Errorf("after deleting a company: %s", got)
	}
	if c, err := f.st.ContactByID(bg, nil, s.contact.ID); err != nil || c.CompanyID != nil {
		t.Errorf("the company's person: %v %+v", err, c)
	}
}
