package store_test

import (
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

// BenchmarkListContactsSorted lists the first page, and the page after it,
// of 120,000 contacts (2,000 companies, 60,000 conversations) in each order
// the contacts page offers.
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
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					first, err := st.ListContacts(ctx, store.ContactFilter{Sort: sort, Desc: desc, Limit: 50})
					if err != nil || len(first) != 50 {
						b.Fatalf("%v %d", err, len(first))
					}
					if _, err := st.ListContacts(ctx, store.ContactFilter{Sort: sort, Desc: desc, Limit: 50, After: first[49].Cursor}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
