package store_test

import (
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

// BenchmarkListContactsSorted lists the first page, and the page after it,
// of 120,000 contacts (2,000 companies; 90,000 conversations, of 60,000
// contacts, half of whom have two) in each order the contacts page offers;
// then by activity among the 120 contacts with a rare tag.
//
//	go test ./runtime/internal/store/ -run '^$' -bench ListContactsSorted -benchtime 20x
func BenchmarkListContactsSorted(b *testing.B) {
	st := storetest.NewDB(b)
	for _, q := range []string{
		`INSERT INTO companies (name) SELECT 'Company ' || md5(i::text) FROM generate_series(1, 2000) i`,
		`INSERT INTO contacts (name, emails, company_id, created_at)
			SELECT 'Contact ' || md5(i::text), ARRAY[md5(i::text) || '@example.test'], 1 + (i::bigint * 7919) % 2000,
				now() - (i % 1000) * interval '1 hour'
			FROM generate_series(1, 120000) i`,
		`INSERT INTO conversations (channel, contact_id, last_message_at)
			SELECT 'api', 1 + (i::bigint * 104729) % 120000, now() - (i % 5000) * interval '1 minute' FROM generate_series(1, 60000) i`,
		`INSERT INTO conversations (channel, contact_id, last_message_at)
			SELECT 'api', 1 + (i::bigint * 104729) % 120000, now() - (i % 9000) * interval '1 minute' FROM generate_series(1, 30000) i`,
		`UPDATE contacts SET tags = ARRAY['rare'] WHERE id % 1000 = 0`,
		`ANALYZE`,
	} {
		if _, err := st.Pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	for _, sort := range []string{"name", "email", "company", "created", "activity"} {
		for _, desc := range []bool{false, true} {
			name := sort
			if desc {
				name += "-desc"
			}
			b.Run(name, func(b *testing.B) { benchContactPages(b, st, store.ContactFilter{Sort: sort, Desc: desc, Limit: 50}) })
		}
	}
	for _, desc := range []bool{false, true} {
		name := "activity-rare-tag"
		if desc {
			name += "-desc"
		}
		b.Run(name, func(b *testing.B) {
			benchContactPages(b, st, store.ContactFilter{Sort: "activity", Desc: desc, Tag: "rare", Limit: 50})
		})
	}
}

// benchContactPages lists f's first page and the page after it.
func benchContactPages(b *testing.B, st *store.Store, f store.ContactFilter) {
	for b.Loop() {
		first, err := st.ListContacts(ctx, f)
		if err != nil || len(first) != f.Limit {
			b.Fatalf("%v %d", err, len(first))
		}
		next := f
		next.After = first[len(first)-1].Cursor
		if _, err := st.ListContacts(ctx, next); err != nil {
			b.Fatal(err)
		}
	}
}
