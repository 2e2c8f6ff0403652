package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// TestCRMInChromium: a company page with its people and deals; a deal
// created on the board, refused first with a bad value (the error next to
// the value, what was typed kept); a deal edited and deleted; two contacts
// merged choosing fields; contacts sorted by a column; /contacts at 390 px
// does not scroll sideways. Screenshots of the contact, company and deal
// pages at 1366 and 390 px go to artifacts/browser.
func TestCRMInChromium(t *testing.T) {
	f := newFixture(t)
	s := seedCRM(t, f)
	priya, _ := f.st.CreateContact(bg, nil, &store.Contact{Name: "Priya Shah", Emails: []string{"priya@initech.example"}, CompanyID: &s.company.ID,
		Address: "1 Keep Street"})
	dup, _ := f.st.CreateContact(bg, nil, &store.Contact{Name: "Priya  Shah (updated)", Phones: []string{"+4915112345678"}, Address: "2 Chosen Road"})
	br := newBrowserRun(t, "crm")
	step, eval, shot := br.step, br.eval, br.shot
	notice := func(text string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.Search(`//*[@data-testid='notice'][contains(., "` + text + `")]`))
	}

	t.Log("1. the company page shows its people and deals, with links")
	step("company",
		chromedp.EmulateViewport(1366, 900),
		signIn(f.ts.URL, "owner@acme.example"),
		chromedp.WaitVisible(chromedp.CSS(".topbar")),
		chromedp.Navigate(f.ts.URL+"/companies"),
		chromedp.Click(chromedp.Search(`//table[@data-testid='companies']//a[contains(., 'Initech')]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=company-name]`)),
	)
	if got := eval(`[...document.querySelectorAll("[data-testid=company-people] a")].map(a => a.textContent).join("|") + " / " +
		[...document.querySelectorAll("[data-testid=company-deals] li")].map(li => li.textContent.replace(/\s+/g, " ").trim()).join("|")`); !strings.Contains(got, "Peter Gibbons") ||
		!strings.Contains(got, "Priya Shah") || !strings.Contains(got, "TPS licences") || !strings.Contains(got, "EUR 12,500.00") || !strings.Contains(got, "Stapler upgrade") ||
		!strings.Contains(got, "no value") {
		t.Errorf("company page people / deals: %q", got)
	}

	t.Log("2. a new deal on the board: a bad value is refused next to the field, keeping what was typed; then a good one")
	step("new deal, bad value",
		chromedp.Navigate(f.ts.URL+"/pipeline"),
		chromedp.Click(chromedp.Search(`//details[@id='new-deal']/summary`)),
		chromedp.WaitVisible(chromedp.ID("#nd-title")),
		chromedp.SendKeys(chromedp.ID("#nd-title"), "Printer fleet"),
		chromedp.SendKeys(chromedp.ID("#nd-value"), "1,200"),
		chromedp.SetValue(chromedp.ID("#nd-company"), fmt.Sprint(s.company.ID)),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Create deal')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#nd-value[aria-invalid=true]`)),
	)
	if got := eval(`document.getElementById("nd-title").value + "|" + document.getElementById("nd-value").value + "|" +
		document.getElementById(document.getElementById("nd-value").getAttribute("aria-describedby")).textContent`); !strings.HasPrefix(got, "Printer fleet|1,200|Value:") {
		t.Errorf("after a bad value: %q", got)
	}
	step("new deal, good value",
		chromedp.SetValue(chromedp.ID("#nd-value"), "1200.50"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Create deal')]`)),
		notice("Printer fleet"),
		chromedp.WaitVisible(chromedp.Search(`//article[@data-testid='deal'][contains(., 'Printer fleet')][contains(., 'EUR 1,200.50')]`)),
	)
	if got := eval(`[...document.querySelectorAll("[data-testid=deal]")].filter(d => d.textContent.includes("Stapler")).map(d => d.querySelector("[data-testid=deal-card-value]").textContent).join()`); got != "no value" {
		t.Errorf("the board shows a deal without a value as %q", got)
	}

	t.Log("3. the deal is edited on its page (value cleared, stage changed), then deleted after a confirmation")
	step("edit deal",
		chromedp.Click(chromedp.Search(`//article[@data-testid='deal']//a[contains(., 'Printer fleet')]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=deal-form]`)),
		shot("crm-deal-1366"),
		chromedp.SetValue(chromedp.ID("#dl-value"), "abc"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Save deal')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#dl-value[aria-invalid=true]`)),
	)
	if got := eval(`document.getElementById("dl-value").value`); got != "abc" {
		t.Errorf("the refused value is not kept: %q", got)
	}
	eval(`document.getElementById("dl-value").value = ""; document.getElementById("dl-stage").value = "` + fmt.Sprint(s.pipeline.Stages[2].ID) + `"`)
	step("save deal",
		chromedp.Click(chromedp.Search(`//button[contains(., 'Save deal')]`)),
		notice("Deal saved."),
	)
	if got := eval(`document.querySelector("[data-testid=deal-value]").textContent + "|" + document.querySelector("[data-testid=deal-details]").textContent.replace(/\s+/g, " ")`); !strings.HasPrefix(got, "no value|") ||
		!strings.Contains(got, "Stage"+s.pipeline.Stages[2].Name) {
		t.Errorf("edited deal page: %q", got)
	}
	deals, _ := f.st.Deals(bg, store.DealFilter{CompanyID: s.company.ID})
	var printer *store.Deal
	for _, d := range deals {
		if d.Title == "Printer fleet" {
			printer = d
		}
	}
	if printer == nil || printer.ValueMinor != nil || printer.StageID != s.pipeline.Stages[2].ID {
		t.Fatalf("edited deal: %+v", printer)
	}
	step("delete deal",
		chromedp.Click(chromedp.CSS(`[data-testid=deal-delete]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=deal-delete-confirm]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=deal-delete-confirm]`)),
		notice("deleted"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=board]`)),
	)
	if _, err := f.st.DealByID(bg, nil, printer.ID); err == nil {
		t.Error("the deal was not deleted")
	}

	t.Log("4. two contacts are merged from the list, choosing the address and name of each")
	step("merge",
		chromedp.Navigate(f.ts.URL+"/contacts"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=duplicates]`)),
		chromedp.Click(chromedp.ID(fmt.Sprintf("#pick-%d", priya.ID))),
		chromedp.Click(chromedp.ID(fmt.Sprintf("#pick-%d", dup.ID))),
		chromedp.Click(chromedp.CSS(`[data-merge-button]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=merge-form]`)),
		shot("crm-merge-1366"),
		chromedp.Click(chromedp.CSS(`input[name="f.address"][value=b]`)),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Review merge')]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=merge-confirm]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=merge-submit]`)),
		notice("Contacts merged"),
	)
	m, err := f.st.ContactByID(bg, nil, priya.ID)
	if err != nil || m.Name != "Priya Shah" || m.Address != "2 Chosen Road" || len(m.Phones) != 1 || m.CompanyID == nil {
		t.Errorf("merged: %+v, %v", m, err)
	}
	if _, err := f.st.ContactByID(bg, nil, dup.ID); err == nil {
		t.Error("the other contact is still there")
	}
	if got := eval(`location.pathname + "|" + document.querySelector("h1 .avatar").textContent`); got != fmt.Sprintf("/contacts/%d|PS", priya.ID) {
		t.Errorf("after the merge: %q", got)
	}
	step("contact page", shot("crm-contact-1366"))

	t.Log("5. the contacts sort by name, both ways, by clicking the header")
	names := func() string {
		return eval(`[...document.querySelectorAll("[data-testid=contacts] tbody tr .name-cell a")].map(a => a.textContent).join("|")`)
	}
	step("sort", chromedp.Navigate(f.ts.URL+"/contacts"), chromedp.Click(chromedp.Search(`//th/a[contains(., 'Name')]`)), chromedp.WaitVisible(chromedp.CSS(`th[aria-sort=ascending]`)))
	if got := names(); got != "Ada Lovelace|Peter Gibbons|Priya Shah" {
		t.Errorf("by name: %q", got)
	}
	step("sort desc", chromedp.Click(chromedp.Search(`//th/a[contains(., 'Name')]`)), chromedp.WaitVisible(chromedp.CSS(`th[aria-sort=descending]`)))
	if got := names(); got != "Priya Shah|Peter Gibbons|Ada Lovelace" || !strings.Contains(eval(`location.search`), "sort=name") {
		t.Errorf("by name, descending: %q at %s", got, eval(`location.search`))
	}

	t.Log("6. the contact, company and deal pages at 1366 and 390 px; nothing scrolls sideways at 390")
	pages := []struct{ name, path string }{
		{"contacts", "/contacts"}, {"contact", fmt.Sprintf("/contacts/%d", priya.ID)}, {"company", fmt.Sprintf("/companies/%d", s.company.ID)},
		{"deal", fmt.Sprintf("/deals/%d", s.priced.ID)}, {"pipeline", "/pipeline"}, {"companies", "/companies"},
		{"merge", fmt.Sprintf("/contacts/merge?a=%d&b=%d", priya.ID, s.contact.ID)}, {"contact-new", "/contacts/new"}, {"import", "/contacts/import"},
	}
	for _, width := range []int64{1366, 390} {
		for _, p := range pages {
			name := fmt.Sprintf("crm-%s-%d", p.name, width)
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
