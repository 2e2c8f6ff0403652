package crm

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

var ctx = context.Background()

// newService is a Service on a fresh database, and a user to act as.
func newService(t testing.TB) (*Service, *int64) {
	t.Helper()
	st := storetest.NewDB(t)
	u, err := st.CreateUser(ctx, st.Pool, &store.User{Email: "agent@team.example", Name: "Agent", Role: "agent", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return &Service{Store: st}, &u.ID
}

func ptr[T any](v T) *T { return &v }

func TestImportContacts(t *testing.T) {
	svc, actor := newService(t)
	old, err := svc.CreateContact(ctx, actor, &store.Contact{Name: "Old", Emails: []string{"old@x.example"}, Tags: []string{"a"},
		Custom: map[string]string{"plan": "free", "region": "eu"}})
	if err != nil {
		t.Fatal(err)
	}
	rita, _ := svc.CreateContact(ctx, actor, &store.Contact{Name: "Rita", Emails: []string{"rita@x.example"}})
	if _, err := svc.SetConsent(ctx, actor, rita.ID, store.Consent{ProcessingRestricted: ptr(true), Source: "agent"}); err != nil {
		t.Fatal(err)
	}
	x, _ := svc.CreateContact(ctx, actor, &store.Contact{Name: "X", Emails: []string{"x@x.example"}})
	y, _ := svc.CreateContact(ctx, actor, &store.Contact{Name: "Y", Phones: []string{"+3581111111"}})

	in := "name,email,phone,company,tags,plan,marketing_opt_out\n" +
		"Ada,ada@x.example,+442079460000,Acme,vip,pro,\n" + // 2: created
		"Old Timer,OLD@x.example,,acme,b,gold,yes\n" + // 3: updates Old, found by email
		"Bad,bad-email,,,,,\n" + // 4: invalid
		"Ada L,,+44 20 7946 0000,,,,\n" + // 5: updates the Ada of line 2, found by phone
		",,,,x,,\n" + // 6: nothing to identify a contact by
		"Rita R,rita@x.example,,,,,\n" + // 7: restricted
		"Amb,x@x.example,+358 111 1111,,,,\n" + // 8: X by email, Y by phone
		"Zed,zed@x.example,,Beta,,,no\n" // 9: created
	rep, err := svc.ImportContacts(ctx, actor, strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := &ImportReport{Created: 2, Updated: 2, Errors: []RowError{
		{4, "email", "is not an email address"},
		{6, "", "needs a name, an email or a phone"},
		{7, "email", "matches a contact whose processing is restricted"},
		{8, "phone", "matches more than one existing contact; merge them first"},
	}}
	if fmt.Sprintf("%+v", rep) != fmt.Sprintf("%+v", want) {
		t.Errorf("report:\n got %+v\nwant %+v", rep, want)
	}

	got, _ := svc.Contact(ctx, old.ID)
	if got.Name != "Old Timer" || fmt.Sprint(got.Emails) != "[old@x.example]" || fmt.Sprint(got.Tags) != "[a b]" ||
		fmt.Sprint(got.Custom) != "map[plan:gold region:eu]" || !got.MarketingOptOut || got.CompanyID == nil {
		t.Errorf("old = %+v", got)
	}
	rows, _ := svc.Contacts(ctx, store.ContactFilter{Search: "ada@x.example"})
	if len(rows) != 1 || rows[0].Name != "Ada L" || fmt.Sprint(rows[0].Phones) != "[+442079460000]" || rows[0].CompanyName != "Acme" ||
		rows[0].Custom["plan"] != "pro" {
		t.Fatalf("ada = %+v", rows)
	}
	// "Acme" and "acme" are one company, made once.
	if companies, _ := svc.Companies(ctx, "", 0); len(companies) != 2 || companies[0].ContactCount != 2 || companies[1].Name != "Beta" {
		t.Errorf("companies = %+v", companies)
	}
	for _, c := range []*store.Contact{rita, x, y} {
		after, _ := svc.Contact(ctx, c.ID)
		if after.Name != c.Name {
			t.Errorf("contact %d changed by a failed row: %+v", c.ID, after)
		}
	}
	var contacts int
	svc.Store.Pool.QueryRow(ctx, `SELECT count(*) FROM contacts`).Scan(&contacts)
	if contacts != 6 {
		t.Errorf("contacts = %d, want 6", contacts)
	}
	var audited int
	svc.Store.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'contacts.imported'`).Scan(&audited)
	if audited != 4 {
		t.Errorf("contacts.imported entries = %d, want 4", audited)
	}

	if _, err := svc.ImportContacts(ctx, actor, strings.NewReader("foo\x00")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("binary file: %v", err)
	}
}

func TestImportDuplicateByEmailUpdates(t *testing.T) {
	svc, actor := newService(t)
	existing, _ := svc.CreateContact(ctx, actor, &store.Contact{Name: "Ann", Emails: []string{"ann@x.example"}, Phones: []string{"+15550100100"}})
	rep, err := svc.ImportContacts(ctx, actor, strings.NewReader("name,email,phone\nAnn Smith,ANN@x.example,+1 555 0100 200\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 0 || rep.Updated != 1 || len(rep.Errors) != 0 {
		t.Fatalf("report = %+v", rep)
	}
	all, _ := svc.Contacts(ctx, store.ContactFilter{})
	if len(all) != 1 || all[0].ID != existing.ID || all[0].Name != "Ann Smith" || fmt.Sprint(all[0].Phones) != "[+15550100100 +15550100200]" {
		t.Errorf("contacts = %+v", all)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	src, actor := newService(t)
	acme, _ := src.CreateCompany(ctx, actor, &store.Company{Name: "Acme, Inc."})
	for _, c := range []*store.Contact{
		{Name: `Ada "Countess" Lovelace`, Emails: []string{"ada@x.example", "ada@y.example"}, Phones: []string{"+442079460000"},
			CompanyID: &acme.ID, Tags: []string{"vip", "speaker"}, Custom: map[string]string{"plan": "pro", "note": "line one\nline two"}},
		{Name: "Formula", Emails: []string{"f@x.example"}, Custom: map[string]string{"plan": "=HYPERLINK(\"http://evil\")", "score": "-3"}},
		{Phones: []string{"+358401234567", "+358409999999"}, Tags: []string{"-dash"}, CompanyID: &acme.ID},
		{Name: "Quiet", MarketingOptOut: true, ProcessingRestricted: true, Custom: map[string]string{"x y": "'=kept"}},
		{Name: "Ünïcødé ñame"},
	} {
		if _, err := src.CreateContact(ctx, actor, c); err != nil {
			t.Fatal(err)
		}
	}
	var first bytes.Buffer
	if err := src.ExportContacts(ctx, actor, &first); err != nil {
		t.Fatal(err)
	}

	dst, actor2 := newService(t)
	rep, err := dst.ImportContacts(ctx, actor2, bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 5 || rep.Updated != 0 || len(rep.Errors) != 0 {
		t.Fatalf("import of an export: %+v\n%s", rep, first.String())
	}
	var second bytes.Buffer
	if err := dst.ExportContacts(ctx, actor2, &second); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Errorf("round trip differs:\n%s\n---\n%s", first.String(), second.String())
	}

	a, _ := src.Contacts(ctx, store.ContactFilter{})
	b, _ := dst.Contacts(ctx, store.ContactFilter{})
	strip := func(rows []*store.ContactRow) string {
		var out []string
		for _, r := range rows {
			out = append(out, fmt.Sprintf("%q %v %v %q %v %v %v %v", r.Name, r.Emails, r.Phones, r.CompanyName, r.Tags, r.Custom,
				r.MarketingOptOut, r.ProcessingRestricted))
		}
		return strings.Join(out, "\n")
	}
	if strip(a) != strip(b) {
		t.Errorf("contacts differ:\n%s\n---\n%s", strip(a), strip(b))
	}
}

func TestExportGuardsAgainstCSVInjection(t *testing.T) {
	svc, actor := newService(t)
	if _, err := svc.CreateContact(ctx, actor, &store.Contact{Name: "=cmd|' /C calc'!A0", Phones: []string{"+15550100100"},
		Tags: []string{"@risk"}, Custom: map[string]string{"=evil": "+SUM(1)", "ok": "-1", "tab": "a\tb"}}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := svc.ExportContacts(ctx, actor, &buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("records = %q", recs)
	}
	header, row := recs[0], recs[1]
	if fmt.Sprint(header) != "[name emails phones company tags marketing_opt_out processing_restricted '=evil ok tab]" {
		t.Errorf("header = %q", header)
	}
	want := []string{"'=cmd|' /C calc'!A0", "", "'+15550100100", "", "'@risk", "false", "false", "'+SUM(1)", "'-1", "a\tb"}
	if fmt.Sprintf("%q", row) != fmt.Sprintf("%q", want) {
		t.Errorf("row = %q\nwant  %q", row, want)
	}
	for _, cell := range append(header, row...) {
		if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
			t.Errorf("cell %q starts a formula", cell)
		}
	}
}

func TestServiceAuditsIdsOnly(t *testing.T) {
	svc, actor := newService(t)
	secret := []string{"Ada", "Lovelace", "ada@x.example", "+442079460000", "Acme", "Big deal", "called her", "Bob", "bob@x.example", "+15550100100"}

	acme, err := svc.CreateCompany(ctx, actor, &store.Company{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	ada, err := svc.CreateContact(ctx, actor, &store.Contact{Name: "Ada Lovelace", Emails: []string{"ada@x.example"},
		Phones: []string{"+442079460000"}, CompanyID: &acme.ID})
	if err != nil {
		t.Fatal(err)
	}
	ada.Tags = []string{"vip"}
	if _, err := svc.UpdateContact(ctx, actor, ada); err != nil {
		t.Fatal(err)
	}
	note, err := svc.AddNote(ctx, actor, ada.ID, "called her")
	if err != nil || note.AuthorID == nil || *note.AuthorID != *actor {
		t.Fatalf("note: %+v, %v", note, err)
	}
	sales, _ := svc.Pipelines(ctx)
	deal, err := svc.CreateDeal(ctx, actor, &store.Deal{Title: "Big deal", ValueMinor: ptr[int64](100), StageID: sales[0].Stages[0].ID, ContactID: &ada.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.MoveDeal(ctx, actor, deal.ID, sales[0].Stages[1].ID); err != nil {
		t.Fatal(err)
	}
	rep, err := svc.ImportContacts(ctx, actor, strings.NewReader("name,email,phone\nBob,bob@x.example,+15550100100\n"))
	if err != nil || rep.Created != 1 {
		t.Fatalf("import: %+v, %v", rep, err)
	}
	bob, _ := svc.Contacts(ctx, store.ContactFilter{Search: "bob"})
	if _, err := svc.MergeContacts(ctx, actor, ada.ID, bob[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.ExportContacts(ctx, actor, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetConsent(ctx, actor, ada.ID, store.Consent{ProcessingRestricted: ptr(true), Source: "agent"}); err != nil {
		t.Fatal(err)
	}
	// A change refused writes no entry.
	if _, err := svc.UpdateContact(ctx, actor, ada); !errors.Is(err, store.ErrRestricted) {
		t.Fatalf("update of a restricted contact: %v", err)
	}

	rows, err := svc.Store.Pool.Query(ctx, `SELECT actor_id, actor_kind, action, object_type, object_id, row_to_json(a)::text FROM audit_log a ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var actorID *int64
		var kind, action, objType, objID, raw string
		if err := rows.Scan(&actorID, &kind, &action, &objType, &objID, &raw); err != nil {
			t.Fatal(err)
		}
		if actorID == nil || *actorID != *actor || kind != "user" {
			t.Errorf("entry %s: actor %v %s", raw, actorID, kind)
		}
		if strings.Trim(objID, "0123456789") != "" {
			t.Errorf("entry %s: object id is not an id", raw)
		}
		for _, s := range secret {
			if strings.Contains(strings.ToLower(raw), strings.ToLower(s)) {
				t.Errorf("entry %s holds %q", raw, s)
			}
		}
		got = append(got, action+" "+objType)
	}
	want := []string{"company.created company", "contact.created contact", "contact.updated contact", "note.created note",
		"deal.created deal", "deal.moved deal", "contacts.imported contact", "contact.merged contact", "contact.merged contact",
		"contacts.exported contact", "contact.consent_changed contact"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("actions:\n got %v\nwant %v", got, want)
	}
}

func TestServiceDealsAndMergeErrors(t *testing.T) {
	svc, actor := newService(t)
	ps, _ := svc.Pipelines(ctx)
	other, err := svc.CreatePipeline(ctx, actor, "Hiring", []string{"Applied", "Hired"})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := svc.CreateDeal(ctx, actor, &store.Deal{Title: "t", StageID: ps[0].Stages[0].ID})
	if _, err := svc.MoveDeal(ctx, actor, d.ID, other.Stages[0].ID); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("cross-pipeline move: %v", err)
	}
	c, _ := svc.CreateContact(ctx, actor, &store.Contact{Name: "c"})
	if _, err := svc.MergeContacts(ctx, actor, c.ID, c.ID); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("self merge: %v", err)
	}
	var n int
	svc.Store.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action IN ('deal.moved', 'contact.merged')`).Scan(&n)
	if n != 0 {
		t.Errorf("refused changes were audited: %d entries", n)
	}
	board, _ := svc.Board(ctx, ps[0].ID)
	if len(board.Columns[0].Deals) != 1 {
		t.Errorf("board = %+v", board.Columns[0])
	}
	if err := svc.DeleteDeal(ctx, actor, d.ID); err != nil {
		t.Fatal(err)
	}
}
