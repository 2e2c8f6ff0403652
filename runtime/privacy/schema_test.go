package privacy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// TestSchemaIsCovered fails when a migration adds a reference that the
// erasure code does not handle: a foreign key to contacts (or to users), or
// to a table whose rows are deleted with them (conversations, messages,
// ...), or a column named like contact_id without a foreign key. The fix is
// a step in contactSteps or memberSteps, and a row in TestEraseContact's
// fixture; a step whose reference is gone fails too.
func TestSchemaIsCovered(t *testing.T) {
	st, _ := newDB(t)
	for _, tc := range coverage {
		if problems := uncovered(t, st, tc); len(problems) > 0 {
			t.Errorf("%s:\n%s", tc.name, strings.Join(problems, "\n"))
		}
	}

	t.Run("a new reference fails it", func(t *testing.T) {
		exec(t, st.Pool, `CREATE TABLE conversation_participants (
			conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
			contact_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE)`)
		exec(t, st.Pool, `ALTER TABLE deals ADD COLUMN referred_by_contact_id bigint`)
		exec(t, st.Pool, `ALTER TABLE teams ADD COLUMN lead_id bigint REFERENCES users (id)`)
		got := strings.Join(append(uncovered(t, st, coverage[0]), uncovered(t, st, coverage[1])...), "\n")
		for _, want := range []string{"conversation_participants.conversation_id", "conversation_participants.contact_id",
			"deals.referred_by_contact_id", "teams.lead_id"} {
			if !strings.Contains(got, want) {
				t.Errorf("the check misses %s; it says:\n%s", want, got)
			}
		}
	})
}

type subject struct {
	name  string
	table string
	steps []step
	// named finds columns that refer to the subject by name alone.
	named string
}

var coverage = []subject{
	{"EraseContact", "contacts", contactSteps, "contact_id"},
	{"EraseMember", "users", memberSteps, "user_id"},
}

// uncovered lists the references to sub's table, and to the tables whose
// rows its erasure deletes, that no step handles, and the steps that
// handle no reference.
func uncovered(t testing.TB, st *store.Store, sub subject) []string {
	refs := foreignKeys(t, st)
	handled := map[string]step{}
	for _, s := range sub.steps {
		if s.column != "" {
			handled[s.table+"."+s.column] = s
		}
	}
	// Follow the foreign keys from the subject's table through every table
	// whose rows the erasure deletes.
	want := map[string]string{} // table.column -> parent
	erased := []string{sub.table}
	for i := 0; i < len(erased); i++ {
		for _, r := range refs {
			if r.parent != erased[i] || r.child == erased[i] {
				continue
			}
			want[r.child+"."+r.column] = r.parent
			if s, ok := handled[r.child+"."+r.column]; (!ok || !s.unlink) && !slices.Contains(erased, r.child) {
				erased = append(erased, r.child)
			}
		}
	}
	var out []string
	for ref, parent := range want {
		s, ok := handled[ref]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s references %s, which %s does not handle: add a step that deletes the rows or clears the column", ref, parent, sub.name))
		case s.parent != parent:
			out = append(out, fmt.Sprintf("%s references %s, but %s's step says %s", ref, parent, sub.name, s.parent))
		}
	}
	for ref := range handled {
		if _, ok := want[ref]; !ok {
			out = append(out, fmt.Sprintf("%s has a step for %s, which references no table it erases: remove or correct it", sub.name, ref))
		}
	}
	for _, c := range columns(t, st) {
		if _, ok := want[c]; !ok && strings.Contains(c[strings.Index(c, ".")+1:], sub.named) {
			out = append(out, fmt.Sprintf("column %s names the subject but is no foreign key %s handles", c, sub.name))
		}
	}
	slices.Sort(out)
	return out
}

type fk struct{ child, column, parent string }

func foreignKeys(t testing.TB, st *store.Store) []fk {
	t.Helper()
	rows, err := st.Pool.Query(context.Background(), `
		SELECT ch.relname, a.attname, pa.relname
		FROM pg_constraint c
		JOIN pg_class ch ON ch.oid = c.conrelid
		JOIN pg_class pa ON pa.oid = c.confrelid
		JOIN pg_namespace n ON n.oid = ch.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
		WHERE c.contype = 'f' AND n.nspname = 'public'
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []fk
	for rows.Next() {
		var r fk
		if err := rows.Scan(&r.child, &r.column, &r.parent); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		t.Fatal("the schema has no foreign keys: the migrations did not run")
	}
	return out
}

// columns lists every column of the public schema as table.column.
func columns(t testing.TB, st *store.Store) []string {
	t.Helper()
	rows, err := st.Pool.Query(context.Background(), `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s.%s", table, column))
	}
	return out
}
