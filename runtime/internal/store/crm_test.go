package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

func mustContact(t *testing.T, st *store.Store, c *store.Contact) *store.Contact {
	t.Helper()
	out, err := st.CreateContact(ctx, nil, c)
	if err != nil {
		t.Fatalf("creating contact %+v: %v", c, err)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func ids[T any](list []T, id func(T) int64) []int64 {
	var out []int64
	for _, v := range list {
		out = append(out, id(v))
	}
	return out
}

func rowIDs(rows []*store.ContactRow) []int64 {
	return ids(rows, func(r *store.ContactRow) int64 { return r.ID })
}

func TestContactCRUDAndSearch(t *testing.T) {
	st := storetest.NewDB(t)
	acme, err := st.CreateCompany(ctx, nil, &store.Company{Name: "Acme", Domain: "Acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	ada := mustContact(t, st, &store.Contact{Name: "  Ada Lovelace ", Emails: []string{"Ada@Example.com", "ada@example.com"},
		Phones: []string{"+44 20-7946 0000"}, CompanyID: &acme.ID, Tags: []string{"vip"}, Custom: map[string]string{"plan": " pro ", "empty": ""}})
	if ada.Name != "Ada Lovelace" || fmt.Sprint(ada.Emails) != "[ada@example.com]" || fmt.Sprint(ada.Phones) != "[+442079460000]" ||
		fmt.Sprint(ada.Custom) != "map[plan:pro]" || *ada.CompanyID != acme.ID {
		t.Fatalf("not normalized: %+v", ada)
	}
	grace := mustContact(t, st, &store.Contact{Name: "Grace 100%_sure", Emails: []string{"grace@navy.example"}, Tags: []string{"lead"}})
	linus := mustContact(t, st, &store.Contact{Phones: []string{"+358401234567"}, Tags: []string{"lead", "vip"}})

	got, err := st.ContactByID(ctx, nil, ada.ID)
	if err != nil || got.Name != "Ada Lovelace" {
		t.Fatalf("get: %+v, %v", got, err)
	}
	if _, err := st.ContactByID(ctx, nil, 999999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing contact: %v", err)
	}

	invalid := []struct {
		name  string
		c     store.Contact
		field string
	}{
		{"nothing", store.Contact{Tags: []string{"x"}}, "name:"},
		{"email", store.Contact{Emails: []string{"ok@x.example", "not-an-email"}}, "emails: entry 2"},
		{"email without domain dot", store.Contact{Emails: []string{"a@localhost"}}, "emails: entry 1"},
		{"phone without plus", store.Contact{Phones: []string{"020 7946 0000"}}, "phones: entry 1"},
		{"phone too short", store.Contact{Phones: []string{"+12345"}}, "phones: entry 1"},
		{"phone letters", store.Contact{Phones: []string{"+44 20 CALL ME"}}, "phones: entry 1"},
		{"tag with space", store.Contact{Name: "x", Tags: []string{"big fish"}}, "tags: entry 1"},
		{"reserved custom key", store.Contact{Name: "x", Custom: map[string]string{"E-mail": "x"}}, "custom:"},
		{"control characters", store.Contact{Name: "a\x00b"}, "name has characters"},
		{"no such company", store.Contact{Name: "x", CompanyID: ptr(int64(999999))}, "companyId:"},
	}
	for _, tt := range invalid {
		t.Run("invalid "+tt.name, func(t *testing.T) {
			_, err := st.CreateContact(ctx, nil, &tt.c)
			if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("got %v, want ErrInvalid naming %q", err, tt.field)
			}
		})
	}

	// Update replaces the editable fields and keeps consent flags.
	got.Name, got.Tags, got.CompanyID = "Ada King", []string{"vip", "speaker"}, nil
	got.Custom["title"] = "Countess"
	upd, err := st.UpdateContact(ctx, nil, got)
	if err != nil {
		t.Fatal(err)
	}
	if upd.Name != "Ada King" || fmt.Sprint(upd.Tags) != "[vip speaker]" || upd.CompanyID != nil || upd.Custom["title"] != "Countess" ||
		!upd.UpdatedAt.After(ada.UpdatedAt) {
		t.Errorf("update = %+v", upd)
	}
	if _, err := st.UpdateContact(ctx, nil, &store.Contact{ID: 999999, Name: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("updating a missing contact: %v", err)
	}
	// Values ingest recorded as the channel names them stay editable.
	r, err := ingest(st, inbox.Inbound{Channel: "whatsapp", Identifier: "4915112345678", Body: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	wa, _ := st.ContactByID(ctx, nil, r.Conversation.ContactID)
	wa.Name = "Wanda"
	if _, err := st.UpdateContact(ctx, nil, wa); err != nil {
		t.Errorf("renaming an ingested contact: %v", err)
	}
	upd.CompanyID = &acme.ID
	if _, err := st.UpdateContact(ctx, nil, upd); err != nil {
		t.Fatal(err)
	}

	search := []struct {
		name string
		f    store.ContactFilter
		want []int64
	}{
		{"all", store.ContactFilter{}, []int64{ada.ID, grace.ID, linus.ID, wa.ID}},
		{"name", store.ContactFilter{Search: "king"}, []int64{ada.ID}},
		{"email", store.ContactFilter{Search: "NAVY"}, []int64{grace.ID}},
		{"phone as typed", store.ContactFilter{Search: "+44 20 7946"}, []int64{ada.ID}},
		{"phone digits", store.ContactFilter{Search: "40123"}, []int64{linus.ID}},
		{"like wildcards are literal", store.ContactFilter{Search: "100%_"}, []int64{grace.ID}},
		{"percent alone", store.ContactFilter{Search: "%"}, []int64{grace.ID}},
		{"tag", store.ContactFilter{Tag: "lead"}, []int64{grace.ID, linus.ID}},
		{"company", store.ContactFilter{CompanyID: acme.ID}, []int64{ada.ID}},
		{"tag and search", store.ContactFilter{Tag: "vip", Search: "ada"}, []int64{ada.ID}},
		{"page 1", store.ContactFilter{Limit: 2}, []int64{ada.ID, grace.ID}},
		{"page 2", store.ContactFilter{Limit: 2, AfterID: grace.ID}, []int64{linus.ID, wa.ID}},
		{"no match", store.ContactFilter{Search: "nobody"}, nil},
	}
	for _, tt := range search {
		t.Run("search "+tt.name, func(t *testing.T) {
			rows, err := st.ListContacts(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(rowIDs(rows)) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", rowIDs(rows), tt.want)
			}
		})
	}
	rows, _ := st.ListContacts(ctx, store.ContactFilter{CompanyID: acme.ID})
	if len(rows) != 1 || rows[0].CompanyName != "Acme" {
		t.Errorf("company name in list: %+v", rows)
	}
}

func TestRestrictionMakesContactReadOnly(t *testing.T) {
	st := storetest.NewDB(t)
	c := mustContact(t, st, &store.Contact{Name: "Rita", Emails: []string{"rita@x.example"}})
	other := mustContact(t, st, &store.Contact{Name: "Other"})
	sales := defaultPipeline(t, st)

	restricted, err := st.SetContactConsent(ctx, nil, c.ID, store.Consent{ProcessingRestricted: ptr(true), Source: "agent"})
	if err != nil || !restricted.ProcessingRestricted {
		t.Fatalf("restrict: %+v, %v", restricted, err)
	}
	writes := []struct {
		name string
		do   func() error
	}{
		{"update", func() error { c.Name = "Rita B"; _, err := st.UpdateContact(ctx, nil, c); return err }},
		{"opt out of marketing", func() error {
			_, err := st.SetContactConsent(ctx, nil, c.ID, store.Consent{MarketingOptOut: ptr(true), Source: "agent"})
			return err
		}},
		{"restrict again", func() error {
			_, err := st.SetContactConsent(ctx, nil, c.ID, store.Consent{ProcessingRestricted: ptr(true), Source: "agent"})
			return err
		}},
		{"add note", func() error { _, err := st.AddNote(ctx, nil, c.ID, nil, "called"); return err }},
		{"new deal", func() error {
			_, err := st.CreateDeal(ctx, nil, &store.Deal{Title: "d", StageID: sales.Stages[0].ID, ContactID: &c.ID})
			return err
		}},
		{"merge into", func() error { _, err := st.MergeContacts(ctx, nil, c.ID, other.ID); return err }},
		{"merge away", func() error { _, err := st.MergeContacts(ctx, nil, other.ID, c.ID); return err }},
	}
	for _, w := range writes {
		if err := w.do(); !errors.Is(err, store.ErrRestricted) {
			t.Errorf("%s: got %v, want ErrRestricted", w.name, err)
		}
	}
	after, _ := st.ContactByID(ctx, nil, c.ID)
	if after.Name != "Rita" || after.MarketingOptOut {
		t.Errorf("a restricted contact changed: %+v", after)
	}
	// Reading stays possible.
	if rows, _ := st.ListContacts(ctx, store.ContactFilter{Search: "rita"}); len(rows) != 1 {
		t.Errorf("list: %v", rows)
	}

	// Lifting the restriction (and opting out with it) works, and so do writes after.
	lifted, err := st.SetContactConsent(ctx, nil, c.ID, store.Consent{ProcessingRestricted: ptr(false), MarketingOptOut: ptr(true), Source: "agent"})
	if err != nil || lifted.ProcessingRestricted || !lifted.MarketingOptOut {
		t.Fatalf("lift: %+v, %v", lifted, err)
	}
	c.Name = "Rita B"
	if upd, err := st.UpdateContact(ctx, nil, c); err != nil || upd.Name != "Rita B" || !upd.MarketingOptOut {
		t.Errorf("update after lifting: %+v, %v", upd, err)
	}
	if _, err := st.AddNote(ctx, nil, c.ID, nil, "called"); err != nil {
		t.Errorf("note after lifting: %v", err)
	}
	if _, err := st.SetContactConsent(ctx, nil, 999999, store.Consent{MarketingOptOut: ptr(true), Source: "agent"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("consent of a missing contact: %v", err)
	}
}

func TestCompanies(t *testing.T) {
	st := storetest.NewDB(t)
	beta, err := st.CreateCompany(ctx, nil, &store.Company{Name: "beta", Custom: map[string]string{"tier": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	acme, _ := st.CreateCompany(ctx, nil, &store.Company{Name: "Acme", Domain: "ACME.example"})
	mustContact(t, st, &store.Contact{Name: "a", CompanyID: &acme.ID})
	mustContact(t, st, &store.Contact{Name: "b", CompanyID: &acme.ID})
	sales := defaultPipeline(t, st)
	deal, _ := st.CreateDeal(ctx, nil, &store.Deal{Title: "big", StageID: sales.Stages[0].ID, CompanyID: &acme.ID})

	list, err := st.Companies(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "Acme" || list[0].ContactCount != 2 || list[0].Domain != "acme.example" ||
		list[1].Name != "beta" || list[1].ContactCount != 0 || list[1].Custom["tier"] != "2" {
		t.Fatalf("list = %+v %+v", list[0], list[1])
	}
	if found, _ := st.Companies(ctx, "acme.ex", 0); len(found) != 1 || found[0].ID != acme.ID {
		t.Errorf("search by domain: %v", found)
	}
	if c, err := st.CompanyByName(ctx, nil, " ACME "); err != nil || c.ID != acme.ID {
		t.Errorf("by name: %v, %v", c, err)
	}

	for _, bad := range []store.Company{{Name: " "}, {Name: "x", Domain: "not a domain"}} {
		if _, err := st.CreateCompany(ctx, nil, &bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}

	beta.Name, beta.Domain = "Beta GmbH", "beta.example"
	if upd, err := st.UpdateCompany(ctx, nil, beta); err != nil || upd.Name != "Beta GmbH" || upd.Domain != "beta.example" {
		t.Errorf("update: %+v, %v", upd, err)
	}
	if _, err := st.UpdateCompany(ctx, nil, &store.Company{ID: 999999, Name: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update missing: %v", err)
	}

	if err := st.DeleteCompany(ctx, nil, acme.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteCompany(ctx, nil, acme.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	rows, _ := st.ListContacts(ctx, store.ContactFilter{})
	if len(rows) != 2 || rows[0].CompanyID != nil || rows[1].CompanyID != nil {
		t.Errorf("contacts of a deleted company: %+v", rows)
	}
	if d, _ := st.DealByID(ctx, nil, deal.ID); d.CompanyID != nil {
		t.Errorf("deal kept its company: %+v", d)
	}
}

func TestNotes(t *testing.T) {
	st := storetest.NewDB(t)
	u, _ := st.CreateUser(ctx, st.Pool, &store.User{Email: "n@x.example", Name: "N", Role: "agent", PasswordHash: "x"})
	c := mustContact(t, st, &store.Contact{Name: "Noted"})
	first, err := st.AddNote(ctx, nil, c.ID, &u.ID, "first call")
	if err != nil {
		t.Fatal(err)
	}
	second, _ := st.AddNote(ctx, nil, c.ID, nil, "second call")
	notes, err := st.Notes(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 || notes[0].ID != second.ID || notes[1].ID != first.ID || *notes[1].AuthorID != u.ID || notes[1].Body != "first call" {
		t.Errorf("notes = %+v", notes)
	}
	for _, tt := range []struct {
		name      string
		contactID int64
		author    *int64
		body      string
		want      error
	}{
		{"empty", c.ID, nil, "  ", store.ErrInvalid},
		{"too long", c.ID, nil, string(make([]byte, store.MaxNoteLen+1)), store.ErrInvalid},
		{"no such author", c.ID, ptr(int64(999999)), "x", store.ErrInvalid},
		{"no such contact", 999999, nil, "x", store.ErrNotFound},
	} {
		if _, err := st.AddNote(ctx, nil, tt.contactID, tt.author, tt.body); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

func defaultPipeline(t *testing.T, st *store.Store) *store.Pipeline {
	t.Helper()
	ps, err := st.Pipelines(ctx)
	if err != nil || len(ps) == 0 || ps[0].Name != "Sales" {
		t.Fatalf("pipelines: %v, %v", ps, err)
	}
	return ps[0]
}

func TestContactActivityNewestFirst(t *testing.T) {
	st := storetest.NewDB(t)
	r, err := ingest(st, inbox.Inbound{Channel: "api", Identifier: "act@x.example", Body: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	contactID := r.Conversation.ContactID
	note, _ := st.AddNote(ctx, nil, contactID, nil, "met at the fair")
	sales := defaultPipeline(t, st)
	deal, err := st.CreateDeal(ctx, nil, &store.Deal{Title: "Licences", ValueMinor: ptr[int64](120000), StageID: sales.Stages[1].ID, ContactID: &contactID})
	if err != nil {
		t.Fatal(err)
	}
	other := mustContact(t, st, &store.Contact{Name: "Other"})
	st.AddNote(ctx, nil, other.ID, nil, "not theirs")

	base := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, q := range []struct {
		sql string
		id  int64
		at  time.Time
	}{
		{`UPDATE notes SET created_at = $2 WHERE id = $1`, note.ID, base.Add(-2 * time.Hour)},
		{`UPDATE conversations SET last_message_at = $2 WHERE id = $1`, r.Conversation.ID, base.Add(-time.Hour)},
		{`UPDATE deals SET updated_at = $2 WHERE id = $1`, deal.ID, base},
	} {
		if _, err := st.Pool.Exec(ctx, q.sql, q.id, q.at); err != nil {
			t.Fatal(err)
		}
	}
	acts, err := st.ContactActivity(ctx, contactID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range acts {
		got = append(got, fmt.Sprintf("%s:%d", a.Kind, a.ID))
	}
	want := []string{fmt.Sprintf("deal:%d", deal.ID), fmt.Sprintf("conversation:%d", r.Conversation.ID), fmt.Sprintf("note:%d", note.ID)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("activity = %v, want %v", got, want)
	}
	if a := acts[0]; a.Title != "Licences" || a.StageName != "Qualified" || *a.ValueMinor != 120000 || a.Currency != "EUR" {
		t.Errorf("deal item = %+v", a)
	}
	if a := acts[1]; a.Channel != "api" || a.Status != "open" || !a.At.Equal(base.Add(-time.Hour)) {
		t.Errorf("conversation item = %+v", a)
	}
	if a := acts[2]; a.Body != "met at the fair" {
		t.Errorf("note item = %+v", a)
	}
	if acts, _ := st.ContactActivity(ctx, contactID, 1); len(acts) != 1 {
		t.Errorf("limit: %d items", len(acts))
	}
	if _, err := st.ContactActivity(ctx, 999999, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing contact: %v", err)
	}
}

func TestPipelines(t *testing.T) {
	st := storetest.NewDB(t)
	sales := defaultPipeline(t, st)
	var names []string
	for i, s := range sales.Stages {
		names = append(names, s.Name)
		if s.Position != i+1 || s.PipelineID != sales.ID {
			t.Errorf("stage %+v", s)
		}
	}
	if fmt.Sprint(names) != "[Lead Qualified Proposal Won Lost]" {
		t.Errorf("default stages = %v", names)
	}

	p, err := st.CreatePipeline(ctx, nil, " Partners ", []string{"Contacted", " Signed "})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "Partners" || len(p.Stages) != 2 || p.Stages[0].Name != "Contacted" || p.Stages[1].Name != "Signed" || p.Stages[1].Position != 2 {
		t.Errorf("created %+v", p)
	}
	all, _ := st.Pipelines(ctx)
	if len(all) != 2 || all[1].ID != p.ID || len(all[0].Stages) != 5 {
		t.Errorf("pipelines = %+v", all)
	}
	for _, tt := range []struct {
		name   string
		pname  string
		stages []string
		want   error
	}{
		{"taken name", "Sales", []string{"a"}, store.ErrConflict},
		{"no name", "", []string{"a"}, store.ErrInvalid},
		{"no stages", "X", nil, store.ErrInvalid},
		{"empty stage", "X", []string{"a", " "}, store.ErrInvalid},
		{"repeated stage", "X", []string{"Won", "won"}, store.ErrInvalid},
	} {
		if _, err := st.CreatePipeline(ctx, nil, tt.pname, tt.stages); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := st.PipelineByID(ctx, nil, 999999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing pipeline: %v", err)
	}
}

func TestDealsMoveAndBoard(t *testing.T) {
	st := storetest.NewDB(t)
	sales := defaultPipeline(t, st)
	lead, qualified, won := sales.Stages[0], sales.Stages[1], sales.Stages[3]
	partners, _ := st.CreatePipeline(ctx, nil, "Partners", []string{"Contacted", "Signed"})
	u, _ := st.CreateUser(ctx, st.Pool, &store.User{Email: "owner@x.example", Name: "O", Role: "agent", PasswordHash: "x"})
	acme, _ := st.CreateCompany(ctx, nil, &store.Company{Name: "Acme"})
	ada := mustContact(t, st, &store.Contact{Name: "Ada"})

	d1, err := st.CreateDeal(ctx, nil, &store.Deal{Title: " Renewal ", ValueMinor: ptr[int64](50000), Currency: "usd", StageID: lead.ID,
		OwnerID: &u.ID, ContactID: &ada.ID, CompanyID: &acme.ID})
	if err != nil {
		t.Fatal(err)
	}
	if d1.Title != "Renewal" || d1.Currency != "USD" || d1.PipelineID != sales.ID || d1.ContactName != "Ada" || d1.CompanyName != "Acme" {
		t.Errorf("created %+v", d1)
	}
	d2, _ := st.CreateDeal(ctx, nil, &store.Deal{Title: "Upsell", ValueMinor: ptr[int64](1000), StageID: lead.ID})
	d3, _ := st.CreateDeal(ctx, nil, &store.Deal{Title: "Pilot", ValueMinor: ptr[int64](2500), StageID: lead.ID, ContactID: &ada.ID})
	p1, _ := st.CreateDeal(ctx, nil, &store.Deal{Title: "Reseller", StageID: partners.Stages[0].ID})

	for _, tt := range []struct {
		name string
		d    store.Deal
		msg  string
	}{
		{"no title", store.Deal{StageID: lead.ID}, "title"},
		{"negative", store.Deal{Title: "x", ValueMinor: ptr[int64](-1), StageID: lead.ID}, "valueMinor"},
		{"currency", store.Deal{Title: "x", Currency: "euro", StageID: lead.ID}, "currency"},
		{"stage", store.Deal{Title: "x", StageID: 999999}, "stageId"},
		{"owner", store.Deal{Title: "x", StageID: lead.ID, OwnerID: ptr(int64(999999))}, "ownerId"},
		{"contact", store.Deal{Title: "x", StageID: lead.ID, ContactID: ptr(int64(999999))}, "contactId"},
		{"company", store.Deal{Title: "x", StageID: lead.ID, CompanyID: ptr(int64(999999))}, "companyId"},
	} {
		if _, err := st.CreateDeal(ctx, nil, &tt.d); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: got %v, want ErrInvalid naming %s", tt.name, err, tt.msg)
		}
	}

	moved, err := st.MoveDeal(ctx, nil, d1.ID, won.ID)
	if err != nil || moved.StageID != won.ID {
		t.Fatalf("move: %+v, %v", moved, err)
	}
	if _, err := st.MoveDeal(ctx, nil, d2.ID, qualified.ID); err != nil {
		t.Fatal(err)
	}
	if same, err := st.MoveDeal(ctx, nil, d2.ID, qualified.ID); err != nil || same.StageID != qualified.ID {
		t.Errorf("move to the current stage: %+v, %v", same, err)
	}
	if _, err := st.MoveDeal(ctx, nil, d3.ID, partners.Stages[1].ID); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "another pipeline") {
		t.Errorf("cross-pipeline move: %v", err)
	}
	if _, err := st.MoveDeal(ctx, nil, d3.ID, 999999); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("move to a missing stage: %v", err)
	}
	if _, err := st.MoveDeal(ctx, nil, 999999, lead.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("move a missing deal: %v", err)
	}

	d3.Title, d3.ValueMinor, d3.ContactID, d3.StageID = "Pilot+", ptr[int64](3000), nil, won.ID
	upd, err := st.UpdateDeal(ctx, nil, d3)
	if err != nil || upd.Title != "Pilot+" || *upd.ValueMinor != 3000 || upd.ContactID != nil || upd.StageID != lead.ID {
		t.Errorf("update (stage unchanged): %+v, %v", upd, err)
	}

	board, err := st.Board(ctx, sales.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int64{}
	var order []string
	for _, col := range board.Columns {
		order = append(order, col.Stage.Name)
		for _, d := range col.Deals {
			got[col.Stage.Name] = append(got[col.Stage.Name], d.ID)
		}
	}
	if fmt.Sprint(order) != "[Lead Qualified Proposal Won Lost]" {
		t.Errorf("columns = %v", order)
	}
	want := map[string][]int64{"Lead": {d3.ID}, "Qualified": {d2.ID}, "Won": {d1.ID}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("board = %v, want %v", got, want)
	}
	wonCol := board.Columns[3]
	if d := wonCol.Deals[0]; d.ContactName != "Ada" || d.CompanyName != "Acme" || wonCol.Totals["USD"] != 50000 {
		t.Errorf("won column = %+v, %+v", d, wonCol.Totals)
	}
	if board.Columns[2].Deals == nil {
		t.Error("an empty column must have an empty, not nil, list")
	}
	pb, _ := st.Board(ctx, partners.ID)
	if len(pb.Columns[0].Deals) != 1 || pb.Columns[0].Deals[0].ID != p1.ID {
		t.Errorf("partners board = %+v", pb.Columns[0])
	}

	if err := st.DeleteDeal(ctx, nil, d2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DealByID(ctx, nil, d2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted deal: %v", err)
	}
	if err := st.DeleteDeal(ctx, nil, d2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestMergeContacts(t *testing.T) {
	st := storetest.NewDB(t)
	sales := defaultPipeline(t, st)
	acme, _ := st.CreateCompany(ctx, nil, &store.Company{Name: "Acme"})
	keep := mustContact(t, st, &store.Contact{Name: "Ada", Emails: []string{"ada@x.example"}, Phones: []string{"+441234567"},
		Tags: []string{"vip"}, Custom: map[string]string{"plan": "pro"}})
	// drop arrives through a channel: it has an identity and a conversation.
	r, err := ingest(st, inbox.Inbound{Channel: "email", Identifier: "ada.l@y.example", ContactName: "A. Lovelace", Body: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	keepConv, _ := ingest(st, inbox.Inbound{Channel: "sms", Identifier: "+449999999", Body: "x"})
	if _, err := st.MergeContacts(ctx, nil, keep.ID, keepConv.Conversation.ContactID); err != nil {
		t.Fatal(err) // keep now has a conversation and an identity of its own too
	}
	drop, _ := st.ContactByID(ctx, nil, r.Conversation.ContactID)
	drop.Phones = append(drop.Phones, "+441234567")
	drop.Tags = []string{"lead", "vip"}
	drop.Custom = map[string]string{"plan": "free", "source": "web"}
	drop.CompanyID = &acme.ID
	if _, err := st.UpdateContact(ctx, nil, drop); err != nil {
		t.Fatal(err)
	}
	st.SetContactConsent(ctx, nil, drop.ID, store.Consent{MarketingOptOut: ptr(true), Source: "agent"})
	note, _ := st.AddNote(ctx, nil, drop.ID, nil, "prefers email")
	deal, _ := st.CreateDeal(ctx, nil, &store.Deal{Title: "d", StageID: sales.Stages[0].ID, ContactID: &drop.ID})

	for _, tt := range []struct {
		name       string
		keep, drop int64
		want       error
	}{
		{"self", keep.ID, keep.ID, store.ErrInvalid},
		{"missing drop", keep.ID, 999999, store.ErrNotFound},
		{"missing keep", 999999, drop.ID, store.ErrNotFound},
	} {
		if _, err := st.MergeContacts(ctx, nil, tt.keep, tt.drop); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}

	merged, err := st.MergeContacts(ctx, nil, keep.ID, drop.ID)
	if err != nil {
		t.Fatal(err)
	}
	if merged.Name != "Ada" || fmt.Sprint(merged.Emails) != "[ada@x.example ada.l@y.example]" ||
		fmt.Sprint(merged.Phones) != "[+441234567 +449999999]" || fmt.Sprint(merged.Tags) != "[vip lead]" ||
		fmt.Sprint(merged.Custom) != "map[plan:pro source:web]" || merged.CompanyID == nil || *merged.CompanyID != acme.ID ||
		!merged.MarketingOptOut {
		t.Errorf("merged = %+v", merged)
	}
	if _, err := st.ContactByID(ctx, nil, drop.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("drop still there: %v", err)
	}
	var identities, convs, notes, deals int
	st.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM contact_identities WHERE contact_id = $1),
		(SELECT count(*) FROM conversations WHERE contact_id = $1), (SELECT count(*) FROM notes WHERE contact_id = $1),
		(SELECT count(*) FROM deals WHERE contact_id = $1)`, keep.ID).Scan(&identities, &convs, &notes, &deals)
	if identities != 2 || convs != 2 || notes != 1 || deals != 1 {
		t.Errorf("moved: identities %d, conversations %d, notes %d, deals %d", identities, convs, notes, deals)
	}
	if d, _ := st.DealByID(ctx, nil, deal.ID); *d.ContactID != keep.ID {
		t.Errorf("deal contact = %v", d.ContactID)
	}
	if ns, _ := st.Notes(ctx, keep.ID); len(ns) != 1 || ns[0].ID != note.ID {
		t.Errorf("notes = %+v", ns)
	}
	// The next message on drop's channel identity continues with keep.
	again, err := ingest(st, inbox.Inbound{Channel: "email", Identifier: "ada.l@y.example", Body: "again"})
	if err != nil || again.NewContact || again.Conversation.ContactID != keep.ID {
		t.Errorf("ingest after merge: %+v, %v", again, err)
	}
}

func TestDuplicateContacts(t *testing.T) {
	st := storetest.NewDB(t)
	a := mustContact(t, st, &store.Contact{Name: "a", Emails: []string{"same@x.example"}, Phones: []string{"+442079460000"}})
	b := mustContact(t, st, &store.Contact{Name: "b", Emails: []string{"SAME@x.example"}})
	mustContact(t, st, &store.Contact{Name: "c", Emails: []string{"other@x.example"}})
	// WhatsApp gives the number without "+"; ingest records it in E.164.
	r, _ := ingest(st, inbox.Inbound{Channel: "whatsapp", Identifier: "442079460000", Body: "hi"})
	d := r.Conversation.ContactID

	pairs, err := st.DuplicateContacts(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pairs {
		got = append(got, fmt.Sprintf("%d-%d%v", p.A.ID, p.B.ID, p.Shared))
	}
	want := []string{fmt.Sprintf("%d-%d[email]", a.ID, b.ID), fmt.Sprintf("%d-%d[phone]", a.ID, d)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pairs = %v, want %v", got, want)
	}
	if len(pairs) > 0 && (pairs[0].A.Name != "a" || pairs[0].B.Name != "b") {
		t.Errorf("pair contacts not loaded: %+v", pairs[0])
	}
}
