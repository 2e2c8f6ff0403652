package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

func TestSimilarNames(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"jon smith", "john smith", true},
		{"priya shah", "priya shah", true},
		{"jon smith", "jon smyth", true},
		{"ada lovelace", "ada lovelase", true},
		{"grace hopper", "grace hoppr", true},
		{"katherine johnson", "catherine jonson", true}, // two edits in a long name
		{"jon smith", "jan smit", false},                // two edits in a short one
		{"ada", "ada", true},
		{"al", "al", false}, // too short to tell
		{"anna", "anne", false},
		{"john smith", "jane smith", false},
		{"priya shah", "ravi shah", false},
		{"müller", "muller", true},
	} {
		if got := store.SimilarNames(tt.a, tt.b); got != tt.want {
			t.Errorf("SimilarNames(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestDuplicateContactsBySimilarNames(t *testing.T) {
	st := storetest.NewDB(t)
	jon := mustContact(t, st, &store.Contact{Name: "Jon Smith"})
	john := mustContact(t, st, &store.Contact{Name: "John Smith", Emails: []string{"john@x.example"}})
	priya := mustContact(t, st, &store.Contact{Name: "Priya Shah"})
	updated := mustContact(t, st, &store.Contact{Name: "Priya  Shah (updated)"})
	mustContact(t, st, &store.Contact{Name: "Jane Smith"})
	mustContact(t, st, &store.Contact{Name: "Ravi Shah"})
	mustContact(t, st, &store.Contact{Name: "+4915112345678"}) // a number for a name: never a name duplicate
	mustContact(t, st, &store.Contact{Name: "+4915112345679"})
	// Same email and similar names: one pair, naming both.
	a := mustContact(t, st, &store.Contact{Name: "Grace Hopper", Emails: []string{"grace@x.example"}})
	b := mustContact(t, st, &store.Contact{Name: "Grace Hoppr", Emails: []string{"GRACE@x.example"}})

	pairs, err := st.DuplicateContacts(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pairs {
		got = append(got, fmt.Sprintf("%d-%d%v", p.A.ID, p.B.ID, p.Shared))
	}
	want := []string{fmt.Sprintf("%d-%d[name]", jon.ID, john.ID), fmt.Sprintf("%d-%d[name]", priya.ID, updated.ID),
		fmt.Sprintf("%d-%d[email name]", a.ID, b.ID)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pairs = %v, want %v", got, want)
	}
	if len(pairs) > 0 && (pairs[0].A.Name != "Jon Smith" || pairs[0].B.Emails[0] != "john@x.example") {
		t.Errorf("pair contacts not loaded: %+v", pairs[0])
	}
	// The limit holds across both kinds.
	if pairs, _ := st.DuplicateContacts(ctx, 2); len(pairs) != 2 {
		t.Errorf("limit 2: %d pairs", len(pairs))
	}
}

// A name shared by more contacts than a block holds is no evidence: such
// blocks are skipped, so the look-up stays bounded.
func TestDuplicateContactsSkipsCommonNames(t *testing.T) {
	st := storetest.NewDB(t)
	if _, err := st.Pool.Exec(ctx, `INSERT INTO contacts (name) SELECT 'Info Desk' FROM generate_series(1, 60)`); err != nil {
		t.Fatal(err)
	}
	x := mustContact(t, st, &store.Contact{Name: "Linus Torvalds"})
	y := mustContact(t, st, &store.Contact{Name: "Linus Torvald"})
	pairs, err := st.DuplicateContacts(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 1 || pairs[0].A.ID != x.ID || pairs[0].B.ID != y.ID {
		t.Errorf("pairs = %+v", pairs)
	}
}

func TestMergeContactsChoosing(t *testing.T) {
	st := storetest.NewDB(t)
	sales := defaultPipeline(t, st)
	acme, _ := st.CreateCompany(ctx, nil, &store.Company{Name: "Acme"})
	globex, _ := st.CreateCompany(ctx, nil, &store.Company{Name: "Globex"})
	keep := mustContact(t, st, &store.Contact{Name: "Priya Shah", Emails: []string{"priya@x.example"}, CompanyID: &acme.ID,
		Address: "1 Keep Street", Custom: map[string]string{"plan": "pro", "tier": "gold"}, Tags: []string{"vip"}})
	r, err := ingest(st, inbox.Inbound{Channel: "email", Identifier: "p.shah@y.example", ContactName: "Priya Shah (updated)", Body: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	drop, _ := st.ContactByID(ctx, nil, r.Conversation.ContactID)
	drop.CompanyID, drop.Address = &globex.ID, "2 Drop Road"
	drop.Custom = map[string]string{"plan": "free", "source": "web"}
	drop.Phones = []string{"+4915112345678"}
	if _, err := st.UpdateContact(ctx, nil, drop); err != nil {
		t.Fatal(err)
	}
	note, _ := st.AddNote(ctx, nil, drop.ID, nil, "prefers email")
	deal, _ := st.CreateDeal(ctx, nil, &store.Deal{Title: "d", StageID: sales.Stages[0].ID, ContactID: &drop.ID})

	// Drop's company, address and plan; keep's name; tier dropped (drop has none, and its "no value" is chosen).
	merged, err := st.MergeContactsChoosing(ctx, nil, keep.ID, drop.ID, &store.MergeChoice{FromDrop: []string{"company", "address", "custom.plan", "custom.tier"}})
	if err != nil {
		t.Fatal(err)
	}
	if merged.ID != keep.ID || merged.Name != "Priya Shah" || merged.CompanyID == nil || *merged.CompanyID != globex.ID || merged.Address != "2 Drop Road" ||
		fmt.Sprint(merged.Custom) != "map[plan:free]" || fmt.Sprint(merged.Emails) != "[priya@x.example p.shah@y.example]" ||
		fmt.Sprint(merged.Phones) != "[+4915112345678]" || fmt.Sprint(merged.Tags) != "[vip]" {
		t.Errorf("merged = %+v", merged)
	}
	var convs, notes, deals, identities int
	st.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM conversations WHERE contact_id = $1), (SELECT count(*) FROM notes WHERE contact_id = $1),
		(SELECT count(*) FROM deals WHERE contact_id = $1), (SELECT count(*) FROM contact_identities WHERE contact_id = $1)`, keep.ID).Scan(&convs, &notes, &deals, &identities)
	if convs != 1 || notes != 1 || deals != 1 || identities != 1 {
		t.Errorf("moved: conversations %d, notes %d (%d), deals %d (%d), identities %d", convs, notes, note.ID, deals, deal.ID, identities)
	}
	if _, err := st.ContactByID(ctx, nil, drop.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("drop still there: %v", err)
	}

	// An explicit choice keeps an empty value, where the automatic merge fills it.
	a := mustContact(t, st, &store.Contact{Name: "Ann", Emails: []string{"ann@x.example"}})
	b := mustContact(t, st, &store.Contact{Name: "Anne", Address: "3 Road"})
	m, err := st.MergeContactsChoosing(ctx, nil, a.ID, b.ID, &store.MergeChoice{})
	if err != nil || m.Name != "Ann" || m.Address != "" {
		t.Errorf("explicit keep: %+v, %v", m, err)
	}
	// Choosing an empty name leaves a contact with an email: fine; with nothing: refused.
	c := mustContact(t, st, &store.Contact{Name: "C"})
	d := mustContact(t, st, &store.Contact{Name: ""[:0] + "D"})
	if _, err := st.Pool.Exec(ctx, `UPDATE contacts SET name = '' WHERE id = $1`, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MergeContactsChoosing(ctx, nil, c.ID, d.ID, &store.MergeChoice{FromDrop: []string{"name"}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a merge leaving nothing to know the contact by: %v", err)
	}
}

func TestListContactsSorted(t *testing.T) {
	st := storetest.NewDB(t)
	acme, _ := st.CreateCompany(ctx, nil, &store.Company{Name: "acme"})
	zeta, _ := st.CreateCompany(ctx, nil, &store.Company{Name: "Zeta"})
	c1 := mustContact(t, st, &store.Contact{Name: "bob", Emails: []string{"z@x.example"}, CompanyID: &zeta.ID})
	c2 := mustContact(t, st, &store.Contact{Name: "Alice", Emails: []string{"m@x.example"}})
	c3 := mustContact(t, st, &store.Contact{Name: "Carol", CompanyID: &acme.ID})
	c4 := mustContact(t, st, &store.Contact{Name: "alice", Emails: []string{"a@x.example"}, CompanyID: &acme.ID})
	r, err := ingest(st, inbox.Inbound{Channel: "api", Identifier: "+15550111", ContactName: "Dan", Body: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	c5 := r.Conversation.ContactID
	// created_at: c1 oldest ... c5 newest, a second apart.
	for i, id := range []int64{c1.ID, c2.ID, c3.ID, c4.ID, c5} {
		st.Pool.Exec(ctx, `UPDATE contacts SET created_at = '2026-01-01'::timestamptz + $2 * interval '1 second' WHERE id = $1`, id, i)
	}
	for _, tt := range []struct {
		sort string
		desc bool
		want []int64
	}{
		{"name", false, []int64{c2.ID, c4.ID, c1.ID, c3.ID, c5}}, // alice ties break by id
		{"name", true, []int64{c5, c3.ID, c1.ID, c4.ID, c2.ID}},
		{"email", false, []int64{c3.ID, c5, c4.ID, c2.ID, c1.ID}}, // no email first
		{"company", false, []int64{c2.ID, c5, c3.ID, c4.ID, c1.ID}},
		{"created", true, []int64{c5, c4.ID, c3.ID, c2.ID, c1.ID}},
		{"activity", true, []int64{c5, c4.ID, c3.ID, c2.ID, c1.ID}}, // the one with a conversation, then those without by id descending
		{"activity", false, []int64{c1.ID, c2.ID, c3.ID, c4.ID, c5}},
	} {
		t.Run(fmt.Sprint(tt.sort, tt.desc), func(t *testing.T) {
			// Whole list, then pages of 2 following the cursor: the same order.
			all, err := st.ListContacts(ctx, store.ContactFilter{Sort: tt.sort, Desc: tt.desc})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(rowIDs(all)) != fmt.Sprint(tt.want) {
				t.Errorf("order = %v, want %v", rowIDs(all), tt.want)
			}
			var paged []int64
			after := ""
			for i := 0; i < 5; i++ {
				page, err := st.ListContacts(ctx, store.ContactFilter{Sort: tt.sort, Desc: tt.desc, After: after, Limit: 2})
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				paged = append(paged, rowIDs(page)...)
				after = page[len(page)-1].Cursor
			}
			if fmt.Sprint(paged) != fmt.Sprint(tt.want) {
				t.Errorf("paged = %v, want %v", paged, tt.want)
			}
		})
	}
	if rows, _ := st.ListContacts(ctx, store.ContactFilter{Sort: "activity", Desc: true, Limit: 1}); len(rows) != 1 || rows[0].LastActivityAt == nil ||
		time.Since(*rows[0].LastActivityAt) > time.Hour {
		t.Errorf("last activity not read: %+v", rows)
	}
	for _, f := range []store.ContactFilter{{Sort: "bogus"}, {Sort: "name", After: "!!"}, {Sort: "created", After: "MTp4"}} {
		if _, err := st.ListContacts(ctx, f); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", f, err)
		}
	}
}

// TestListContactsByActivity checks the walk of conversations that sorts by
// last activity against the definition (ContactSorts["activity"], evaluated
// for every contact): contacts with several conversations, ties between
// contacts and within one, contacts without any, filters, both directions,
// and pages of every size.
func TestListContactsByActivity(t *testing.T) {
	st := storetest.NewDB(t)
	acme, _ := st.CreateCompany(ctx, nil, &store.Company{Name: "Acme"})
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// Each contact's conversations' last_message_at, in minutes after base.
	convs := [][]int{{5}, {}, {1, 9, 3}, {9}, {}, {2, 2}, {7, 1}, {}, {9, 4}, {0}, {}, {6, 6, 6}}
	for i, minutes := range convs {
		c := &store.Contact{Name: fmt.Sprint("c", i)}
		if i%3 == 0 {
			c.Tags = []string{"vip"}
		}
		if i%4 == 1 {
			c.CompanyID = &acme.ID
		}
		row := mustContact(t, st, c)
		for _, m := range minutes {
			if _, err := st.Pool.Exec(ctx, `INSERT INTO conversations (channel, contact_id, last_message_at) VALUES ('api', $1, $2)`,
				row.ID, base.Add(time.Duration(m)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range []store.ContactFilter{{}, {Tag: "vip"}, {CompanyID: acme.ID}, {Search: "c1"}} {
		for _, desc := range []bool{true, false} {
			f.Sort, f.Desc = "activity", desc
			dir := ""
			if desc {
				dir = " DESC"
			}
			var args []any
			cond := "true"
			switch {
			case f.Tag != "":
				cond, args = "c.tags @> ARRAY[$1]", []any{f.Tag}
			case f.CompanyID != 0:
				cond, args = "c.company_id = $1", []any{f.CompanyID}
			case f.Search != "":
				cond, args = "c.name ILIKE $1", []any{"%" + f.Search + "%"}
			}
			expr := store.ContactSorts["activity"]
			rows, err := st.Pool.Query(ctx, `SELECT c.id FROM contacts c WHERE `+cond+` ORDER BY `+expr+dir+`, c.id`+dir, args...)
			if err != nil {
				t.Fatal(err)
			}
			want, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil || len(want) == 0 {
				t.Fatalf("reference: %v, %v", want, err)
			}
			all, err := st.ListContacts(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(rowIDs(all)) != fmt.Sprint(want) {
				t.Errorf("%+v: order = %v, want %v", f, rowIDs(all), want)
			}
			for _, r := range all {
				if len(convs[indexOfName(r.Name)]) == 0 != (r.LastActivityAt == nil) {
					t.Errorf("%s: last activity %v", r.Name, r.LastActivityAt)
				}
			}
			for size := 1; size <= 4; size++ {
				var paged []int64
				p := f
				p.Limit = size
				for range 20 {
					page, err := st.ListContacts(ctx, p)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) == 0 {
						break
					}
					paged = append(paged, rowIDs(page)...)
					p.After = page[len(page)-1].Cursor
				}
				if fmt.Sprint(paged) != fmt.Sprint(want) {
					t.Errorf("%+v, pages of %d: %v, want %v", f, size, paged, want)
				}
			}
		}
	}
}

func indexOfName(name string) int {
	var i int
	fmt.Sscanf(name, "c%d", &i)
	return i
}

func TestDealsWithoutValueAndByCompany(t *testing.T) {
	st := storetest.NewDB(t)
	sales := defaultPipeline(t, st)
	acme, _ := st.CreateCompany(ctx, nil, &store.Company{Name: "Acme"})
	none, err := st.CreateDeal(ctx, nil, &store.Deal{Title: "Unpriced", StageID: sales.Stages[0].ID, CompanyID: &acme.ID})
	if err != nil || none.ValueMinor != nil {
		t.Fatalf("a deal without a value: %+v, %v", none, err)
	}
	zero, _ := st.CreateDeal(ctx, nil, &store.Deal{Title: "Free pilot", ValueMinor: ptr[int64](0), StageID: sales.Stages[0].ID, CompanyID: &acme.ID})
	if zero.ValueMinor == nil || *zero.ValueMinor != 0 {
		t.Errorf("a deal worth 0 is not a deal without a value: %+v", zero)
	}
	priced, _ := st.CreateDeal(ctx, nil, &store.Deal{Title: "Big", ValueMinor: ptr[int64](5000), StageID: sales.Stages[0].ID})
	b, err := st.Board(ctx, sales.ID)
	if err != nil {
		t.Fatal(err)
	}
	if col := b.Columns[0]; len(col.Deals) != 3 || col.Totals["EUR"] != 5000 {
		t.Errorf("column = %d deals, totals %v", len(col.Deals), col.Totals)
	}
	got, err := st.Deals(ctx, store.DealFilter{CompanyID: acme.ID})
	if err != nil || fmt.Sprint(ids(got, func(d *store.Deal) int64 { return d.ID })) != fmt.Sprint([]int64{zero.ID, none.ID}) {
		t.Errorf("acme's deals = %v, %v", got, err)
	}
	// Clearing a value.
	priced.ValueMinor = nil
	if d, err := st.UpdateDeal(ctx, nil, priced); err != nil || d.ValueMinor != nil {
		t.Errorf("cleared: %+v, %v", d, err)
	}
}

// BenchmarkDuplicateContacts100k looks for duplicates among 100,000
// contacts named from 200 first and 200 last names (so most full names
// occur two or three times), with a typo in one name of every hundred,
// and 20,000 more named by a phone number.
func BenchmarkDuplicateContacts100k(b *testing.B) {
	st := storetest.NewDB(b)
	if _, err := st.Pool.Exec(ctx, `INSERT INTO contacts (name, emails)
		SELECT initcap(f) || ' ' || initcap(CASE WHEN i % 100 = 0 THEN overlay(l PLACING 'x' FROM 2 FOR 1) ELSE l END),
			ARRAY['c' || i || '@x.example']
		FROM generate_series(1, 100000) i,
			LATERAL (SELECT 'first' || chr(97 + (i % 200) / 26) || chr(97 + (i % 200) % 26) AS f,
				'last' || chr(97 + (i / 200 % 200) / 26) || chr(97 + (i / 200 % 200) % 26) AS l) n`); err != nil {
		b.Fatal(err)
	}
	if _, err := st.Pool.Exec(ctx, `INSERT INTO contacts (name) SELECT '+49151' || lpad(i::text, 8, '0') FROM generate_series(1, 20000) i`); err != nil {
		b.Fatal(err)
	}
	if _, err := st.Pool.Exec(ctx, `ANALYZE contacts`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		pairs, err := st.DuplicateContacts(ctx, 20)
		if err != nil || len(pairs) == 0 {
			b.Fatalf("%d pairs, %v", len(pairs), err)
		}
	}
}

// TestCompanySortFollowsTheCompany: company_sort follows the company's name
// (renamed, deleted, another company set), as migration 00025's triggers
// keep it.
func TestCompanySortFollowsTheCompany(t *testing.T) {
	st := storetest.NewDB(t)
	sortKey := func(id int64) string {
		t.Helper()
		var company string
		if err := st.Pool.QueryRow(ctx, `SELECT company_sort FROM contacts WHERE id = $1`, id).Scan(&company); err != nil {
			t.Fatal(err)
		}
		return company
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := st.Pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	zeta, _ := st.CreateCompany(ctx, nil, &store.Company{Name: "Zeta Ltd"})
	acme, _ := st.CreateCompany(ctx, nil, &store.Company{Name: "ACME"})
	a := mustContact(t, st, &store.Contact{Name: "A", CompanyID: &zeta.ID})
	b := mustContact(t, st, &store.Contact{Name: "B"})
	if c := sortKey(a.ID); c != "zeta ltd" {
		t.Fatalf("a new contact: %q", c)
	}
	if c := sortKey(b.ID); c != "" {
		t.Fatalf("a new contact without a company: %q", c)
	}
	exec(`UPDATE companies SET name = 'Beta GmbH' WHERE id = $1`, zeta.ID)
	if c := sortKey(a.ID); c != "beta gmbh" {
		t.Errorf("after the company's rename: %q", c)
	}
	exec(`UPDATE contacts SET company_id = $2 WHERE id = $1`, b.ID, acme.ID)
	if c := sortKey(b.ID); c != "acme" {
		t.Errorf("after a company was set: %q", c)
	}
	exec(`DELETE FROM companies WHERE id = $1`, acme.ID)
	if c := sortKey(b.ID); c != "" {
		t.Errorf("after the company's deletion: %q", c)
	}
}
