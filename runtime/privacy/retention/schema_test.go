package retention

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// TestMappingCoversSchema fails when a table of the migrated schema is in
// no category and not in Kept, when a table is in both, when a category
// names a table or column that does not exist, and when a table that
// Anonymize keeps has a column its Columns do not treat: a new column of
// messages must say whether anonymisation clears it. The subtest proves the
// check catches a new table and a new column.
func TestMappingCoversSchema(t *testing.T) {
	st, _ := newDB(t, "")
	if problems := uncovered(t, st); len(problems) > 0 {
		t.Errorf("the retention mapping does not match the schema:\n%s", strings.Join(problems, "\n"))
	}

	t.Run("a new table or column fails it", func(t *testing.T) {
		exec(t, st.Pool, `CREATE TABLE call_recordings (id bigint PRIMARY KEY, conversation_id bigint REFERENCES conversations (id), audio bytea)`)
		exec(t, st.Pool, `ALTER TABLE messages ADD COLUMN translated_body text`)
		got := strings.Join(uncovered(t, st), "\n")
		for _, want := range []string{"call_recordings", "messages.translated_body"} {
			if !strings.Contains(got, want) {
				t.Errorf("the check misses %s; it says:\n%s", want, got)
			}
		}
	})
}

func uncovered(t testing.TB, st *store.Store) []string {
	t.Helper()
	cols := map[string][]string{}
	rows, err := st.Pool.Query(bg, `SELECT c.table_name, c.column_name FROM information_schema.columns c
		JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' ORDER BY c.table_name, c.ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			t.Fatal(err)
		}
		cols[table] = append(cols[table], col)
	}
	rows.Close()
	if len(cols) < 20 {
		t.Fatalf("the schema has %d tables: the migrations did not run", len(cols))
	}
	var out []string
	covered := map[string]bool{}
	for _, s := range Categories {
		for _, tb := range s.Tables {
			covered[tb.Name] = true
			have, ok := cols[tb.Name]
			if !ok {
				out = append(out, fmt.Sprintf("%s names table %s, which does not exist", s.Category, tb.Name))
				continue
			}
			if tb.Columns == nil && tb.AnonymizeDeletes == "" {
				out = append(out, fmt.Sprintf("%s: table %s says neither how Anonymize treats its columns nor why it deletes the rows", s.Category, tb.Name))
			}
			if tb.Columns == nil {
				continue
			}
			var listed []string
			for _, c := range tb.Columns {
				listed = append(listed, c.Name)
				if !slices.Contains(have, c.Name) {
					out = append(out, fmt.Sprintf("%s: column %s.%s does not exist", s.Category, tb.Name, c.Name))
				}
				if c.Treatment == Hash && c.Into != "" && !slices.Contains(have, c.Into) {
					out = append(out, fmt.Sprintf("%s: %s.%s is hashed into %s, which does not exist", s.Category, tb.Name, c.Name, c.Into))
				}
				if c.Why == "" {
					out = append(out, fmt.Sprintf("%s: %s.%s has no reason", s.Category, tb.Name, c.Name))
				}
			}
			for _, c := range have {
				if n := countOf(listed, c); n != 1 {
					out = append(out, fmt.Sprintf("%s: column %s.%s is treated %d times by Anonymize; say once whether it is kept, cleared or hashed", s.Category, tb.Name, c, n))
				}
			}
		}
		for _, u := range s.Unlinks {
			if !slices.Contains(cols[u.Table], u.Column) {
				out = append(out, fmt.Sprintf("%s unlinks %s.%s, which does not exist", s.Category, u.Table, u.Column))
			}
		}
	}
	for table := range cols {
		_, kept := Kept[table]
		switch {
		case covered[table] && kept:
			out = append(out, fmt.Sprintf("table %s is both in a category and kept", table))
		case !covered[table] && !kept:
			out = append(out, fmt.Sprintf("table %s is in no retention category: add it to one in Categories, or to Kept with the reason it lives as long as the workspace", table))
		}
	}
	for table := range Kept {
		if _, ok := cols[table]; !ok {
			out = append(out, fmt.Sprintf("Kept names table %s, which does not exist", table))
		}
	}
	slices.Sort(out)
	return out
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
