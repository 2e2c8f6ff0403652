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
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// formPost posts a form as the app's script does (fetch, X-Switchboard-Form),
// which gets errors as JSON naming the field.
func (f *fixture) formPost(role auth.Role, path string, form url.Values) (*http.Response, map[string]string) {
	f.t.Helper()
	form.Set("csrf", f.csrf[role])
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Switchboard-Form", "1")
	req.AddCookie(f.sessions[role])
	resp, err := noRedirect().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Redirect string            `json:"redirect"`
		Error    map[string]string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if body.Error == nil {
		body.Error = map[string]string{}
	}
	body.Error["redirect"] = body.Redirect
	return resp, body.Error
}

func (f *fixture) body(resp *http.Response) string {
	f.t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// crmSeed is a company with a person and two deals, one without a value.
type crmSeed struct {
	company          *store.Company
	contact          *store.Contact
	priced, unpriced *store.Deal
	pipeline         *store.Pipeline
}

func seedCRM(t *testing.T, f *fixture) crmSeed {
	t.Helper()
	ps, err := f.st.Pipelines(bg)
	if err != nil || len(ps) == 0 {
		t.Fatalf("pipelines: %v", err)
	}
	co, err := f.st.CreateCompany(bg, nil, &store.Company{Name: "Initech", Domain: "initech.example", Address: "4120 Freidrich Lane, Austin"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.st.CreateContact(bg, nil, &store.Contact{Name: "Peter Gibbons", Emails: []string{"peter@initech.example"}, CompanyID: &co.ID})
	if err != nil {
		t.Fatal(err)
	}
	v := int64(1250000)
	priced, err := f.st.CreateDeal(bg, nil, &store.Deal{Title: "TPS licences", ValueMinor: &v, StageID: ps[0].Stages[0].ID, CompanyID: &co.ID, ContactID: &c.ID})
	if err != nil {
		t.Fatal(err)
	}
	unpriced, err := f.st.CreateDeal(bg, nil, &store.Deal{Title: "Stapler upgrade", StageID: ps[0].Stages[1].ID, CompanyID: &co.ID, ContactID: &c.ID})
	if err != nil {
		t.Fatal(err)
	}
	return crmSeed{co, c, priced, unpriced, ps[0]}
}

func crmAudits(t *testing.T, f *fixture, action string, id int64) int {
	t.Helper()
	var n int
	if err := f.st.Pool.QueryRow(bg, `SELECT count(*) FROM audit_log WHERE action = $1 AND object_id = $2`, action, fmt.Sprint(id)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCompanyPage(t *testing.T) {
	f := newFixture(t)
	s := seedCRM(t, f)
	resp := f.do(auth.Viewer, http.MethodGet, fmt.Sprintf("/companies/%d", s.company.ID), nil, false)
	page := f.body(resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("company page: %d %s", resp.StatusCode, page)
	}
	for _, want := range []string{"Initech", "4120 Freidrich Lane, Austin", "initech.example",
		fmt.Sprintf(`href="/contacts/%d"`, s.contact.ID), "Peter Gibbons",
		fmt.Sprintf(`href="/deals/%d"`, s.priced.ID), "EUR 12,500.00", fmt.Sprintf(`href="/deals/%d"`, s.unpriced.ID), "no value"} {
		if !strings.Contains(page, want) {
			t.Errorf("company page lacks %q", want)
		}
	}
	if strings.Contains(page, `action="/companies/`) {
		t.Error("a viewer is offered the edit form")
	}
	// The app's own 404 page, styled, for a company that does not exist.
	resp = f.do(auth.Viewer, http.MethodGet, "/companies/999999", nil, false)
	if page := f.body(resp); resp.StatusCode != http.StatusNotFound || !strings.Contains(page, `rel="stylesheet"`) || !strings.Contains(page, `class="topbar"`) {
		t.Errorf("/companies/999999: %d, styled page %v", resp.StatusCode, strings.Contains(page, "stylesheet"))
	}

	path := fmt.Sprintf("/companies/%d", s.company.ID)
	if resp := f.do(auth.Viewer, http.MethodPost, path, url.Values{"name": {"x"}}, false); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer edit: %d", resp.StatusCode)
	}
	for _, tt := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"name": {""}, "domain": {"initech.example"}}, "name"},
		{url.Values{"name": {"Initech"}, "domain": {"not a domain"}}, "domain"},
		{url.Values{"name": {"Initech"}, "address": {strings.Repeat("x", 600)}}, "address"},
	} {
		resp, e := f.formPost(auth.Agent, path, tt.form)
		if resp.StatusCode != http.StatusBadRequest || e["field"] != tt.field {
			t.Errorf("%v: %d %v, want 400 on %s", tt.form, resp.StatusCode, e, tt.field)
		}
	}
	resp, e := f.formPost(auth.Agent, path, url.Values{"name": {"Initrode"}, "domain": {"INITRODE.example"}, "address": {"1 Main St"}})
	if resp.StatusCode != http.StatusOK || e["redirect"] != path {
		t.Fatalf("edit: %d %v", resp.StatusCode, e)
	}
	co, _ := f.st.CompanyByID(bg, nil, s.company.ID)
	if co.Name != "Initrode" || co.Domain != "initrode.example" || co.Address != "1 Main St" || crmAudits(t, f, "company.updated", co.ID) != 1 {
		t.Errorf("edited company = %+v", co)
	}
	// A plain browser post is answered with a redirect, and the next page shows the notice once.
	resp = f.do(auth.Agent, http.MethodPost, path, url.Values{"name": {"Initech"}}, false)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != path {
		t.Errorf("plain post: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if page := f.body(f.do(auth.Agent, http.MethodGet, path, nil, false)); !strings.Contains(page, "Company saved.") {
		t.Error("no notice after saving")
	}
	if page := f.body(f.do(auth.Agent, http.MethodGet, path, nil, false)); strings.Contains(page, "Company saved.") {
		t.Error("the notice shows twice")
	}
	// The companies list links each company.
	if page := f.body(f.do(auth.Viewer, http.MethodGet, "/companies", nil, false)); !strings.Contains(page, fmt.Sprintf(`href="/companies/%d"`, s.company.ID)) {
		t.Error("/companies does not link the company page")
	}
}

func TestDealPage(t *testing.T) {
	f := newFixture(t)
	s := seedCRM(t, f)
	path := fmt.Sprintf("/deals/%d", s.unpriced.ID)
	resp := f.do(auth.Viewer, http.MethodGet, path, nil, false)
	page := f.body(resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Stapler upgrade") || !strings.Contains(page, "no value") ||
		strings.Contains(page, "EUR 0.00") || !strings.Contains(page, fmt.Sprintf(`href="/companies/%d"`, s.company.ID)) ||
		!strings.Contains(page, fmt.Sprintf(`href="/contacts/%d"`, s.contact.ID)) {
		t.Fatalf("deal page: %d\n%s", resp.StatusCode, page)
	}
	if strings.Contains(page, `action="/deals/`) || strings.Contains(page, "/delete") {
		t.Error("a viewer is offered edit or delete")
	}
	if resp := f.do(auth.Viewer, http.MethodGet, "/deals/999999", nil, false); resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing deal: %d", resp.StatusCode)
	}
	// The contact page shows it without a value too.
	if page := f.body(f.do(auth.Viewer, http.MethodGet, fmt.Sprintf("/contacts/%d", s.contact.ID), nil, false)); !strings.Contains(page, "no value") ||
		strings.Contains(page, "EUR 0.00") || !strings.Contains(page, path) {
		t.Error("contact page: a deal without a value")
	}

	for _, role := range []auth.Role{auth.Viewer} {
		for _, p := range []string{path, path + "/delete"} {
			if resp := f.do(role, http.MethodPost, p, url.Values{"title": {"x"}}, false); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s POST %s: %d", role, p, resp.StatusCode)
			}
		}
	}
	won := s.pipeline.Stages[3]
	base := url.Values{"title": {"Stapler upgrade"}, "value": {""}, "currency": {"EUR"}, "stage": {fmt.Sprint(s.unpriced.StageID)},
		"company": {fmt.Sprint(s.company.ID)}, "contact": {fmt.Sprint(s.contact.ID)}, "owner": {""}}
	with := func(k, v string) url.Values {
		out := url.Values{}
		for kk, vv := range base {
			out[kk] = vv
		}
		out.Set(k, v)
		return out
	}
	for _, tt := range []struct {
		form  url.Values
		field string
	}{
		{with("value", "12,50"), "value"},
		{with("value", "-3"), "value"},
		{with("title", " "), "title"},
		{with("currency", "euro"), "currency"},
		{with("stage", "999999"), "stage"},
		{with("stage", "x"), "stage"},
		{with("owner", "999999"), "owner"},
		{with("company", "abc"), "company"},
	} {
		resp, e := f.formPost(auth.Agent, path, tt.form)
		if resp.StatusCode != http.StatusBadRequest || e["field"] != tt.field {
			t.Errorf("%v: %d %v, want 400 on %s", tt.form, resp.StatusCode, e, tt.field)
		}
	}
	form := with("value", "990.5")
	form.Set("stage", fmt.Sprint(won.ID))
	form.Set("owner", fmt.Sprint(f.users[auth.Agent].ID))
	form.Set("title", "Stapler upgrade (red)")
	resp, e := f.formPost(auth.Agent, path, form)
	if resp.StatusCode != http.StatusOK || e["redirect"] != path {
		t.Fatalf("edit: %d %v", resp.StatusCode, e)
	}
	d, _ := f.st.DealByID(bg, nil, s.unpriced.ID)
	if d.Title != "Stapler upgrade (red)" || d.ValueMinor == nil || *d.ValueMinor != 99050 || d.StageID != won.ID || d.OwnerID == nil ||
		*d.OwnerID != f.users[auth.Agent].ID {
		t.Errorf("edited deal = %+v", d)
	}
	if crmAudits(t, f, "deal.updated", d.ID) != 1 || crmAudits(t, f, "deal.moved", d.ID) != 1 {
		t.Error("the edit and the move are not audited")
	}
	if page := f.body(f.do(auth.Agent, http.MethodGet, path, nil, false)); !strings.Contains(page, "EUR 990.50") || !strings.Contains(page, `value="990.50"`) {
		t.Error("the deal page does not show the new value")
	}

	// Delete: a confirmation page, then the post.
	resp = f.do(auth.Agent, http.MethodGet, path+"/delete", nil, false)
	if page := f.body(resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Delete the deal") || !strings.Contains(page, `action="`+path+`/delete"`) {
		t.Errorf("delete confirmation: %d", resp.StatusCode)
	}
	if _, err := f.st.DealByID(bg, nil, d.ID); err != nil {
		t.Fatal("the confirmation page deleted the deal")
	}
	resp, e = f.formPost(auth.Agent, path+"/delete", url.Values{})
	if resp.StatusCode != http.StatusOK || e["redirect"] != fmt.Sprintf("/pipeline?pipeline=%d", s.pipeline.ID) {
		t.Fatalf("delete: %d %v", resp.StatusCode, e)
	}
	if _, err := f.st.DealByID(bg, nil, d.ID); err == nil || crmAudits(t, f, "deal.deleted", d.ID) != 1 {
		t.Errorf("deleted deal: %v, audited %d", err, crmAudits(t, f, "deal.deleted", d.ID))
	}
	if resp := f.do(auth.Agent, http.MethodPost, path+"/delete", nil, false); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleting again: %d", resp.StatusCode)
	}
}

func TestNewDealOnTheBoard(t *testing.T) {
	f := newFixture(t)
	s := seedCRM(t, f)
	board := f.body(f.do(auth.Agent, http.MethodGet, "/pipeline", nil, false))
	if !strings.Contains(board, `data-testid="new-deal"`) || !strings.Contains(board, "no value") || strings.Contains(board, "EUR 0.00") ||
		!strings.Contains(board, fmt.Sprintf(`href="/deals/%d"`, s.priced.ID)) {
		t.Errorf("board: new-deal form, no value and links expected")
	}
	if board := f.body(f.do(auth.Viewer, http.MethodGet, "/pipeline", nil, false)); strings.Contains(board, `data-testid="new-deal"`) {
		t.Error("a viewer is offered the new-deal form")
	}
	if resp := f.do(auth.Viewer, http.MethodPost, "/deals", url.Values{"title": {"x"}, "stage": {fmt.Sprint(s.pipeline.Stages[0].ID)}}, false); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer creates a deal: %d", resp.StatusCode)
	}
	back := fmt.Sprintf("/pipeline?pipeline=%d", s.pipeline.ID)
	form := url.Values{"title": {"Printer"}, "value": {"1.234"}, "currency": {"EUR"}, "stage": {fmt.Sprint(s.pipeline.Stages[0].ID)}, "company": {""}, "back": {back}}
	resp, e := f.formPost(auth.Agent, "/deals", form)
	if resp.StatusCode != http.StatusBadRequest || e["field"] != "value" || !strings.Contains(e["message"], "decimals") {
		t.Errorf("bad value: %d %v", resp.StatusCode, e)
	}
	form.Set("value", "")
	form.Set("company", fmt.Sprint(s.company.ID))
	resp, e = f.formPost(auth.Agent, "/deals", form)
	if resp.StatusCode != http.StatusOK || e["redirect"] != back {
		t.Fatalf("new deal: %d %v", resp.StatusCode, e)
	}
	deals, _ := f.st.Deals(bg, store.DealFilter{CompanyID: s.company.ID})
	if len(deals) != 3 || deals[0].Title != "Printer" || deals[0].ValueMinor != nil || deals[0].OwnerID == nil {
		t.Errorf("created: %+v", deals[0])
	}
	// A company page's "New deal" opens the form with the company chosen.
	if board := f.body(f.do(auth.Agent, http.MethodGet, fmt.Sprintf("/pipeline?new=%d", s.company.ID), nil, false)); !strings.Contains(board, fmt.Sprintf(`<option value="%d" selected>`, s.company.ID)) {
		t.Error("?new= does not pick the company")
	}
}

func TestContactFormPages(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		role auth.Role
		path string
		want int
		text string
	}{
		{auth.Agent, "/contacts/new", 200, `action="/contacts"`},
		{auth.Viewer, "/contacts/new", 403, ""},
		{auth.Admin, "/contacts/import", 200, `action="/contacts/import"`},
		{auth.Agent, "/contacts/import", 403, ""},
	} {
		resp := f.do(tt.role, http.MethodGet, tt.path, nil, false)
		if page := f.body(resp); resp.StatusCode != tt.want || !strings.Contains(page, tt.text) {
			t.Errorf("%s %s: %d", tt.role, tt.path, resp.StatusCode)
		}
	}
	resp, e := f.formPost(auth.Agent, "/contacts", url.Values{"name": {"Milton"}, "emails": {"milton@"}})
	if resp.StatusCode != http.StatusBadRequest || e["field"] != "emails" {
		t.Errorf("bad email: %d %v", resp.StatusCode, e)
	}
	resp, e = f.formPost(auth.Agent, "/contacts", url.Values{"name": {"Milton"}, "emails": {"milton@initech.example"}})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(e["redirect"], "/contacts/") {
		t.Errorf("new contact: %d %v", resp.StatusCode, e)
	}
	// The import's report is a fragment of the import page for its script.
	body := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\nContent-Type: text/csv\r\n\r\nname,email\nBob,bob@x.example\nBad,not-an-email\n\r\n--b--\r\n"
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/contacts/import", strings.NewReader(body))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", f.csrf[auth.Admin])
	req.AddCookie(f.sessions[auth.Admin])
	r2, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Body.Close()
	if page := f.body(r2); r2.StatusCode != 200 || !strings.Contains(page, "1</strong> created") || strings.Contains(page, "<html") {
		t.Errorf("import fragment: %d %s", r2.StatusCode, page)
	}
}

func TestManualMerge(t *testing.T) {
	f := newFixture(t)
	acme, _ := f.st.CreateCompany(bg, nil, &store.Company{Name: "Acme"})
	a, _ := f.st.CreateContact(bg, nil, &store.Contact{Name: "Priya Shah", Emails: []string{"priya@x.example"}, Address: "1 A Street",
		Custom: map[string]string{"plan": "pro"}})
	b, _ := f.st.CreateContact(bg, nil, &store.Contact{Name: "Priya  Shah (updated)", Phones: []string{"+4915112345678"}, CompanyID: &acme.ID,
		Address: "2 B Road", Custom: map[string]string{"plan": "free"}})

	list := f.body(f.do(auth.Admin, http.MethodGet, "/contacts", nil, false))
	if !strings.Contains(list, `hx-get="/contacts/duplicates?fragment=duplicates"`) {
		t.Error("/contacts does not load the possible duplicates")
	}
	if !strings.Contains(list, `name="id" value="`+fmt.Sprint(a.ID)+`"`) {
		t.Error("/contacts has no checkboxes to pick contacts for a merge")
	}
	dups := f.body(f.do(auth.Admin, http.MethodGet, "/contacts/duplicates?fragment=duplicates", nil, false))
	if !strings.Contains(dups, fmt.Sprintf(`/contacts/merge?a=%d&amp;b=%d`, a.ID, b.ID)) || !strings.Contains(dups, "similar names") || strings.Contains(dups, "<html") {
		t.Errorf("the duplicates fragment does not suggest the similar names:\n%s", dups)
	}
	if list := f.body(f.do(auth.Agent, http.MethodGet, "/contacts", nil, false)); strings.Contains(list, "/contacts/duplicates") || strings.Contains(list, `name="id"`) {
		t.Error("an agent is offered merges")
	}
	if resp := f.do(auth.Agent, http.MethodGet, "/contacts/duplicates", nil, false); resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent duplicates: %d", resp.StatusCode)
	}
	if resp := f.do(auth.Agent, http.MethodGet, fmt.Sprintf("/contacts/merge?a=%d&b=%d", a.ID, b.ID), nil, false); resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent merge page: %d", resp.StatusCode)
	}
	// Picking from the list (two ticked ids) is the side-by-side page.
	resp := f.do(auth.Admin, http.MethodGet, fmt.Sprintf("/contacts/merge?id=%d&id=%d", a.ID, b.ID), nil, false)
	page := f.body(resp)
	for _, want := range []string{`name="f.name" value="b"`, `name="f.company" value="a"`, `name="f.address"`, `name="f.custom.plan"`, `name="keep" value="a" checked`, "4915112345678"} {
		if !strings.Contains(page, want) {
			t.Errorf("side-by-side page lacks %s", want)
		}
	}
	if resp := f.do(auth.Admin, http.MethodGet, fmt.Sprintf("/contacts/merge?id=%d", a.ID), nil, false); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("one ticked contact: %d", resp.StatusCode)
	}
	// A "merge with…" from a contact page: search, then compare.
	if page := f.body(f.do(auth.Admin, http.MethodGet, fmt.Sprintf("/contacts/merge?a=%d&q=4915", a.ID), nil, false)); !strings.Contains(page, fmt.Sprintf("b=%d", b.ID)) {
		t.Error("the picker does not find the other contact")
	}
	// Confirm: b's company and address, a's name and plan; keep b's record.
	q := url.Values{"a": {fmt.Sprint(a.ID)}, "b": {fmt.Sprint(b.ID)}, "keep": {"b"}, "confirm": {"1"}, "f.name": {"a"}, "f.company": {"b"}, "f.address": {"b"}, "f.custom.plan": {"a"}}
	page = f.body(f.do(auth.Admin, http.MethodGet, "/contacts/merge?"+q.Encode(), nil, false))
	if !strings.Contains(page, fmt.Sprintf("Merge #%d into #%d?", a.ID, b.ID)) {
		t.Fatalf("confirmation page:\n%s", page)
	}
	from := regexp.MustCompile(`name="from" value="([^"]+)"`).FindAllStringSubmatch(page, -1)
	var fields []string
	for _, m := range from {
		fields = append(fields, m[1])
	}
	if fmt.Sprint(fields) != "[name custom.plan]" {
		t.Errorf("fields from the dropped contact = %v", fields)
	}
	if _, err := f.st.ContactByID(bg, nil, a.ID); err != nil {
		t.Fatal("the confirmation page merged already")
	}
	form := url.Values{"keep": {fmt.Sprint(b.ID)}, "drop": {fmt.Sprint(a.ID)}, "chosen": {"1"}, "from": fields}
	resp, e := f.formPost(auth.Admin, "/contacts/merge", form)
	if resp.StatusCode != http.StatusOK || e["redirect"] != fmt.Sprintf("/contacts/%d", b.ID) {
		t.Fatalf("merge: %d %v", resp.StatusCode, e)
	}
	m, _ := f.st.ContactByID(bg, nil, b.ID)
	if m.Name != "Priya Shah" || m.CompanyID == nil || *m.CompanyID != acme.ID || m.Address != "2 B Road" || m.Custom["plan"] != "pro" ||
		fmt.Sprint(m.Emails) != "[priya@x.example]" {
		t.Errorf("merged = %+v", m)
	}
	if crmAudits(t, f, "contact.merged", a.ID) != 1 || crmAudits(t, f, "contact.merged", b.ID) != 1 {
		t.Error("the merge is not audited on both ids")
	}
	if resp, _ := f.formPost(auth.Admin, "/contacts/merge", form); resp.StatusCode != http.StatusNotFound {
		t.Errorf("merging a gone contact: %d", resp.StatusCode)
	}
}

func TestContactsSortAndPaging(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"Zoe", "bob", "Carl", "anna"} {
		if _, err := f.st.CreateContact(bg, nil, &store.Contact{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(page string) []string {
		var out []string
		for _, m := range regexp.MustCompile(`<a href="/contacts/\d+">([^<]+)</a>`).FindAllStringSubmatch(page, -1) {
			out = append(out, m[1])
		}
		return out
	}
	page := f.body(f.do(auth.Viewer, http.MethodGet, "/contacts?sort=name", nil, false))
	if got := names(page); fmt.Sprint(got) != "[Ada Lovelace anna bob Carl Zoe]" {
		t.Errorf("by name: %v", got)
	}
	if !strings.Contains(page, `aria-sort="ascending"`) || !strings.Contains(page, `href="/contacts?dir=desc&amp;sort=name"`) {
		t.Error("the name header does not offer the reverse order")
	}
	if got := names(f.body(f.do(auth.Viewer, http.MethodGet, "/contacts?sort=name&dir=desc", nil, false))); fmt.Sprint(got) != "[Zoe Carl bob anna Ada Lovelace]" {
		t.Errorf("by name, descending: %v", got)
	}
	if got := names(f.body(f.do(auth.Viewer, http.MethodGet, "/contacts?sort=activity&dir=desc", nil, false))); len(got) == 0 || got[0] != "Ada Lovelace" {
		t.Errorf("by last activity: %v", got)
	}
	// A junk order or cursor is refused, never a 500.
	if resp := f.do(auth.Viewer, http.MethodGet, "/contacts?sort=name&after=%21%21", nil, false); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("junk cursor: %d", resp.StatusCode)
	}
	if resp := f.do(auth.Viewer, http.MethodGet, "/contacts?sort=nope", nil, false); resp.StatusCode != http.StatusOK {
		t.Errorf("unknown sort: %d", resp.StatusCode)
	}
	// Paging keeps the order: 101 more contacts make a second page.
	if _, err := f.st.Pool.Exec(bg, `INSERT INTO contacts (name) SELECT 'Filler ' || lpad(i::text, 3, '0') FROM generate_series(1, 101) i`); err != nil {
		t.Fatal(err)
	}
	page = f.body(f.do(auth.Viewer, http.MethodGet, "/contacts?sort=name&dir=desc", nil, false))
	next := regexp.MustCompile(`href="([^"]+)" data-testid="contacts-next"`).FindStringSubmatch(page)
	if next == nil || !strings.Contains(next[1], "sort=name") || !strings.Contains(next[1], "dir=desc") {
		t.Fatalf("next link: %v", next)
	}
	first := names(page)
	second := names(f.body(f.do(auth.Viewer, http.MethodGet, strings.ReplaceAll(next[1], "&amp;", "&"), nil, false)))
	if len(first) != 100 || len(second) != 6 || second[len(second)-1] != "Ada Lovelace" || first[99] != "Filler 003" || second[0] != "Filler 002" {
		t.Errorf("pages: %d then %d: %v", len(first), len(second), second)
	}
}

func TestCRMAPI(t *testing.T) {
	f := newFixture(t)
	s := seedCRM(t, f)
	dp := fmt.Sprintf("/api/v1/deals/%d", s.unpriced.ID)
	var got struct {
		Deal    map[string]any `json:"deal"`
		Company map[string]any `json:"company"`
		Error   map[string]string
	}
	read := func(resp *http.Response) {
		t.Helper()
		got.Deal, got.Company, got.Error = nil, nil, nil
		_ = json.NewDecoder(resp.Body).Decode(&got)
	}
	resp := f.api(auth.Viewer, http.MethodGet, dp, "")
	read(resp)
	if resp.StatusCode != 200 || got.Deal["title"] != "Stapler upgrade" || got.Deal["valueMinor"] != nil {
		t.Errorf("GET deal: %d %v", resp.StatusCode, got.Deal)
	}
	if resp := f.api(auth.Viewer, http.MethodPatch, dp, `{"title":"x"}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer PATCH: %d", resp.StatusCode)
	}
	for _, tt := range []struct{ body, code string }{
		{`{"valueMinor":-1}`, "invalid"},
		{`{"title":null}`, "invalid"},
		{`{"stageId":999999}`, "invalid"},
		{`{"currency":"euro"}`, "invalid"},
		{`{"bogus":1}`, "invalid"},
		{`{"valueMinor":"1"}`, "invalid"},
	} {
		resp := f.api(auth.Agent, http.MethodPatch, dp, tt.body)
		read(resp)
		if resp.StatusCode != 400 || got.Error["code"] != tt.code {
			t.Errorf("PATCH %s: %d %v", tt.body, resp.StatusCode, got.Error)
		}
	}
	resp = f.api(auth.Agent, http.MethodPatch, dp, fmt.Sprintf(`{"valueMinor":4200,"currency":"usd","stageId":%d,"contactId":null}`, s.pipeline.Stages[2].ID))
	read(resp)
	if resp.StatusCode != 200 || got.Deal["valueMinor"] != 4200.0 || got.Deal["currency"] != "USD" || got.Deal["contactId"] != nil ||
		got.Deal["stageId"] != float64(s.pipeline.Stages[2].ID) || got.Deal["title"] != "Stapler upgrade" || got.Deal["companyId"] != float64(s.company.ID) {
		t.Errorf("PATCH deal: %d %v", resp.StatusCode, got.Deal)
	}
	resp = f.api(auth.Agent, http.MethodPatch, dp, `{"valueMinor":null}`)
	read(resp)
	if resp.StatusCode != 200 || got.Deal["valueMinor"] != nil {
		t.Errorf("PATCH valueMinor null: %v", got.Deal)
	}
	if resp := f.api(auth.Viewer, http.MethodDelete, dp, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer DELETE: %d", resp.StatusCode)
	}
	if resp := f.api(auth.Agent, http.MethodDelete, dp, ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE: %d", resp.StatusCode)
	}
	resp = f.api(auth.Agent, http.MethodDelete, dp, "")
	read(resp)
	if resp.StatusCode != 404 || got.Error["code"] != "not_found" {
		t.Errorf("DELETE again: %d %v", resp.StatusCode, got.Error)
	}
	if crmAudits(t, f, "deal.deleted", s.unpriced.ID) != 1 {
		t.Error("API delete not audited")
	}

	cp := fmt.Sprintf("/api/v1/companies/%d", s.company.ID)
	resp = f.api(auth.Viewer, http.MethodGet, cp, "")
	read(resp)
	if resp.StatusCode != 200 || got.Company["name"] != "Initech" || got.Company["contactCount"] != 1.0 {
		t.Errorf("GET company: %d %v", resp.StatusCode, got.Company)
	}
	if resp := f.api(auth.Viewer, http.MethodGet, "/api/v1/companies/999999", ""); resp.StatusCode != 404 {
		t.Errorf("GET missing company: %d", resp.StatusCode)
	}
	resp = f.api(auth.Agent, http.MethodPatch, cp, `{"domain":"bad domain"}`)
	read(resp)
	if resp.StatusCode != 400 || got.Error["code"] != "invalid" {
		t.Errorf("PATCH bad domain: %d %v", resp.StatusCode, got.Error)
	}
	resp = f.api(auth.Agent, http.MethodPatch, cp, `{"address":"5 New Road","domain":null}`)
	read(resp)
	if resp.StatusCode != 200 || got.Company["address"] != "5 New Road" || got.Company["domain"] != "" || got.Company["name"] != "Initech" {
		t.Errorf("PATCH company: %d %v", resp.StatusCode, got.Company)
	}
	if resp := f.api(auth.Viewer, http.MethodPatch, cp, `{}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer PATCH company: %d", resp.StatusCode)
	}
}

func TestInitials(t *testing.T) {
	for in, want := range map[string]string{
		"Priya Shah (updated)": "PS", "Priya  Shah (updated)": "PS", "Ada Lovelace": "AL", "ada": "A", "": "?", "  ": "?",
		"+4915112345678": "4", "(none)": "N", "Łukasz Nowak": "ŁN", "Jean-Luc Picard 2": "JP", "--": "?",
	} {
		if got := initials(in); got != want {
			t.Errorf("initials(%q) = %q, want %q", in, got, want)
		}
	}
}
