package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

// apiError reads a JSON error answer.
func apiError(t *testing.T, resp *http.Response) map[string]string {
	t.Helper()
	var b struct{ Error map[string]string }
	_ = json.NewDecoder(resp.Body).Decode(&b)
	return b.Error
}

func TestContactPatchAPI(t *testing.T) {
	f := newFixture(t)
	s := seedCRM(t, f)
	cp := fmt.Sprintf("/api/v1/contacts/%d", s.contact.ID)
	if resp := f.api(auth.Viewer, http.MethodPatch, cp, `{"name":"x"}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer PATCH: %d", resp.StatusCode)
	}
	for _, tt := range []struct{ body, field string }{
		{`{"emails":["not an email"]}`, "emails"},
		{`{"phones":["12"]}`, "phones"},
		{`{"companyId":999999}`, "companyId"},
		{`{"custom":{"":"x"}}`, "custom"},
		{`{"address":"a\nb"}`, "address"},
		{`{"marketingOptOut":true}`, "marketingOptOut"},
		{`{"processingRestricted":true}`, "processingRestricted"},
		{`{"bogus":1}`, "bogus"},
	} {
		resp := f.api(auth.Agent, http.MethodPatch, cp, tt.body)
		e := apiError(t, resp)
		if resp.StatusCode != http.StatusBadRequest || (e["field"] != tt.field && !strings.Contains(e["message"], tt.field)) {
			t.Errorf("PATCH %s: %d %v, want a 400 naming %s", tt.body, resp.StatusCode, e, tt.field)
		}
	}
	if c, _ := f.st.ContactByID(bg, nil, s.contact.ID); c.Name != "Peter Gibbons" || c.MarketingOptOut || c.CompanyID == nil {
		t.Errorf("a refused PATCH changed the contact: %+v", c)
	}
	resp := f.api(auth.Agent, http.MethodPatch, cp, `{"name":"Peter G.","phones":["+15550111"],"companyId":null,"tags":["vip"],"custom":{"tier":"gold"}}`)
	var got struct{ Contact store.Contact }
	_ = json.NewDecoder(resp.Body).Decode(&got)
	c := got.Contact
	if resp.StatusCode != http.StatusOK || c.Name != "Peter G." || len(c.Phones) != 1 || c.Phones[0] != "+15550111" || c.CompanyID != nil ||
		len(c.Tags) != 1 || c.Custom["tier"] != "gold" || len(c.Emails) != 1 || c.Emails[0] != "peter@initech.example" {
		t.Errorf("PATCH: %d %+v", resp.StatusCode, c)
	}
	if crmAudits(t, f, "contact.updated", s.contact.ID) != 1 {
		t.Error("PATCH not audited")
	}
	if resp := f.api(auth.Agent, http.MethodPatch, "/api/v1/contacts/999999", `{}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("PATCH missing contact: %d", resp.StatusCode)
	}
}

func TestCompanyDelete(t *testing.T) {
	f := newFixture(t)
	s := seedCRM(t, f)
	path := fmt.Sprintf("/companies/%d", s.company.ID)
	if page := f.body(f.do(auth.Viewer, http.MethodGet, path, nil, false)); strings.Contains(page, path+"/delete") {
		t.Error("a viewer is offered delete")
	}
	if page := f.body(f.do(auth.Agent, http.MethodGet, path, nil, false)); !strings.Contains(page, path+"/delete") {
		t.Error("an agent is not offered delete")
	}
	resp := f.do(auth.Agent, http.MethodGet, path+"/delete", nil, false)
	page := f.body(resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "<strong>1</strong> person stays") || !strings.Contains(page, "<strong>2</strong> deals stay") {
		t.Errorf("confirmation page: %d\n%s", resp.StatusCode, page)
	}
	if resp := f.do(auth.Viewer, http.MethodPost, path+"/delete", nil, false); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer delete: %d", resp.StatusCode)
	}
	// Custom attributes are editable in the form; a bad line names the field.
	resp, errs := f.formPost(auth.Agent, path, url.Values{"name": {"Initech"}, "domain": {"initech.example"}, "custom": {"no equals sign"}})
	if resp.StatusCode != http.StatusBadRequest || errs["field"] != "custom" {
		t.Errorf("bad custom: %d %v", resp.StatusCode, errs)
	}
	if resp, errs := f.formPost(auth.Agent, path, url.Values{"name": {"Initech"}, "domain": {"initech.example"}, "custom": {"tier = gold\n\nsize=50"}}); resp.StatusCode != http.StatusOK || errs["redirect"] != path {
		t.Errorf("custom: %d %v", resp.StatusCode, errs)
	}
	if co, _ := f.st.CompanyByID(bg, nil, s.company.ID); co.Custom["tier"] != "gold" || co.Custom["size"] != "50" || len(co.Custom) != 2 {
		t.Errorf("custom not saved: %v", co.Custom)
	}

	resp, errs = f.formPost(auth.Agent, path+"/delete", url.Values{})
	if resp.StatusCode != http.StatusOK || errs["redirect"] != "/companies" {
		t.Fatalf("delete: %d %v", resp.StatusCode, errs)
	}
	if _, err := f.st.CompanyByID(bg, nil, s.company.ID); err != store.ErrNotFound && !strings.Contains(fmt.Sprint(err), "not found") {
		t.Errorf("company still there: %v", err)
	}
	if c, err := f.st.ContactByID(bg, nil, s.contact.ID); err != nil || c.CompanyID != nil {
		t.Errorf("its person: %v %+v, want kept without a company", err, c)
	}
	if d, err := f.st.DealByID(bg, nil, s.priced.ID); err != nil || d.CompanyID != nil {
		t.Errorf("its deal: %v %+v, want kept without a company", err, d)
	}
	if crmAudits(t, f, "company.deleted", s.company.ID) != 1 {
		t.Error("delete not audited")
	}

	// The API.
	co, err := f.st.CreateCompany(bg, nil, &store.Company{Name: "Globex"})
	if err != nil {
		t.Fatal(err)
	}
	ap := fmt.Sprintf("/api/v1/companies/%d", co.ID)
	if resp := f.api(auth.Viewer, http.MethodDelete, ap, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer API delete: %d", resp.StatusCode)
	}
	if resp := f.api(auth.Agent, http.MethodDelete, ap, ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("API delete: %d", resp.StatusCode)
	}
	if resp := f.api(auth.Agent, http.MethodDelete, ap, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("API delete again: %d", resp.StatusCode)
	}
	if crmAudits(t, f, "company.deleted", co.ID) != 1 {
		t.Error("API delete not audited")
	}
}

// contactRows counts the rows that refer to a contact, table by table.
func contactRows(t *testing.T, f *fixture, id int64) map[string]int {
	t.Helper()
	out := map[string]int{}
	for table, q := range map[string]string{
		"contacts":      `SELECT count(*) FROM contacts WHERE id = $1`,
		"conversations": `SELECT count(*) FROM conversations WHERE contact_id = $1`,
		"notes":         `SELECT count(*) FROM notes WHERE contact_id = $1`,
		"deals":         `SELECT count(*) FROM deals WHERE contact_id = $1`,
	} {
		var n int
		if err := f.st.Pool.QueryRow(bg, q, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func TestContactDelete(t *testing.T) {
	f := newFixture(t)
	s := seedCRM(t, f)
	ada := f.contactOf(t, f.convID) // the fixture's contact, with a conversation and a message
	if _, err := f.st.AddNote(bg, nil, ada, &f.users[auth.Agent].ID, "Called back"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Pool.QueryRow(bg, `UPDATE deals SET contact_id = $1 WHERE id = $2 RETURNING id`, ada, s.priced.ID).Scan(new(int64)); err != nil {
		t.Fatal(err)
	}
	var msgs int
	if err := f.st.Pool.QueryRow(bg, `SELECT count(*) FROM messages WHERE conversation_id = $1`, f.convID).Scan(&msgs); err != nil || msgs == 0 {
		t.Fatalf("messages: %d %v", msgs, err)
	}
	path := fmt.Sprintf("/contacts/%d", ada)

	// Only admins and owners delete, and only with the ledger.
	if page := f.body(f.do(auth.Agent, http.MethodGet, path, nil, false)); strings.Contains(page, path+"/delete") {
		t.Error("an agent is offered delete")
	}
	for _, role := range []auth.Role{auth.Viewer, auth.Agent} {
		if resp := f.do(role, http.MethodPost, path+"/delete", nil, false); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s delete: %d", role, resp.StatusCode)
		}
		if resp := f.api(role, http.MethodDelete, "/api/v1"+path, ""); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s API delete: %d", role, resp.StatusCode)
		}
	}
	if page := f.body(f.do(auth.Admin, http.MethodGet, path+"/delete", nil, false)); !strings.Contains(page, "erasure ledger is not available") ||
		strings.Contains(page, `action="`+path+`/delete"`) {
		t.Errorf("without a ledger the page offers delete:\n%s", page)
	}
	resp := f.api(auth.Admin, http.MethodDelete, "/api/v1"+path, "")
	if e := apiError(t, resp); resp.StatusCode != http.StatusServiceUnavailable || e["code"] != "ledger_unavailable" {
		t.Errorf("API delete without a ledger: %d %v", resp.StatusCode, e)
	}
	if n := contactRows(t, f, ada); n["contacts"] != 1 || n["conversations"] != 1 {
		t.Fatalf("a refused delete changed rows: %v", n)
	}

	ledger := f.withLedger(t)
	start := time.Now().Add(-time.Minute)
	if page := f.body(f.do(auth.Admin, http.MethodGet, path, nil, false)); !strings.Contains(page, path+"/delete") {
		t.Error("an admin is not offered delete")
	}
	resp = f.do(auth.Admin, http.MethodGet, path+"/delete", nil, false)
	page := f.body(resp)
	for _, want := range []string{"<strong>1</strong> conversation,", fmt.Sprintf("<strong>%d</strong> message", msgs), "<strong>0</strong> attachments",
		"<strong>1</strong> note about", "<strong>1</strong> deal that names them stays"} {
		if !strings.Contains(page, want) {
			t.Errorf("confirmation page lacks %q:\n%s", want, page)
		}
	}
	resp, errs := f.formPost(auth.Admin, path+"/delete", url.Values{})
	if resp.StatusCode != http.StatusOK || errs["redirect"] != "/contacts" {
		t.Fatalf("delete: %d %v", resp.StatusCode, errs)
	}
	if n := contactRows(t, f, ada); n["contacts"]+n["conversations"]+n["notes"]+n["deals"] != 0 {
		t.Errorf("rows left after the delete: %v", n)
	}
	var left int
	if err := f.st.Pool.QueryRow(bg, `SELECT count(*) FROM messages WHERE conversation_id = $1`, f.convID).Scan(&left); err != nil || left != 0 {
		t.Errorf("messages left: %d %v", left, err)
	}
	if d, err := f.st.DealByID(bg, nil, s.priced.ID); err != nil || d.ContactID != nil {
		t.Errorf("the deal: %v %+v, want kept without a contact", err, d)
	}
	if crmAudits(t, f, "contact.deleted", ada) != 1 {
		t.Error("delete not audited")
	}

	// The API deletes the seed's contact.
	ap := fmt.Sprintf("/api/v1/contacts/%d", s.contact.ID)
	if resp := f.api(auth.Admin, http.MethodDelete, ap, ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("API delete: %d", resp.StatusCode)
	}
	if resp := f.api(auth.Admin, http.MethodDelete, ap, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("API delete again: %d", resp.StatusCode)
	}
	if n := contactRows(t, f, s.contact.ID); n["contacts"]+n["deals"] != 0 {
		t.Errorf("rows left after the API delete: %v", n)
	}

	entries, err := ledger.Since(bg, start)
	if err != nil {
		t.Fatal(err)
	}
	var erased []int64
	for _, e := range entries {
		if e.Kind != privacy.KindContact || !strings.HasPrefix(e.RequestID, "contact-delete-") {
			t.Errorf("ledger entry %+v", e)
		}
		erased = append(erased, e.SubjectID)
	}
	if len(erased) != 2 || erased[0] != ada || erased[1] != s.contact.ID {
		t.Errorf("ledger entries for %v, want [%d %d]", erased, ada, s.contact.ID)
	}
	var audits []string
	rows, _ := f.st.Pool.Query(bg, `SELECT object_id FROM audit_log WHERE action = 'contact.deleted' ORDER BY id`)
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		audits = append(audits, id)
	}
	rows.Close()
	if want := []string{fmt.Sprint(ada), fmt.Sprint(s.contact.ID)}; strings.Join(audits, ",") != strings.Join(want, ",") {
		t.Errorf("audit object ids %v, want %v (ids only)", audits, want)
	}
}
