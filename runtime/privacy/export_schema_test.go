package privacy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// TestContactExportCoversSchema fails when a table can hold a contact's
// data and ExportContact neither exports it nor says why not: a table with
// a foreign key to contacts, or to a table that holds the contact's rows
// (conversations, messages, and so on, transitively), or with a column
// named like contact_id, conversation_id or message_id. The fix is a part
// in contactParts (or contactNotes), or an entry in contactExcluded.
//
// Columns need no list: a part exports every column the catalog gives.
// The test checks that on a real bundle, whose every file has rows: each
// object carries its table's columns, but for generated ones and
// attachments' bytes.
func TestContactExportCoversSchema(t *testing.T) {
	st, _ := newDB(t)
	if problems := contactExportGaps(t, st); len(problems) > 0 {
		t.Errorf("ExportContact and the schema disagree:\n%s", strings.Join(problems, "\n"))
	}
	w := newWorld(t, st.Pool)
	addExportRows(t, st.Pool, w)
	checkExportedColumns(t, st, w, "")

	t.Run("a new table fails it, a new column is exported", func(t *testing.T) {
		exec(t, st.Pool, `CREATE TABLE contact_social_profiles (
			contact_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE, handle text NOT NULL)`)
		exec(t, st.Pool, `CREATE TABLE message_reactions (message_id bigint NOT NULL REFERENCES messages (id), emoji text)`)
		exec(t, st.Pool, `ALTER TABLE teams ADD COLUMN escalation_contact_id bigint`)
		exec(t, st.Pool, `ALTER TABLE messages ADD COLUMN sentiment text DEFAULT 'calm'`)
		got := strings.Join(contactExportGaps(t, st), "\n")
		for _, want := range []string{"contact_social_profiles", "message_reactions", "teams"} {
			if !strings.Contains(got, want+" ") {
				t.Errorf("the check misses %s; it says:\n%s", want, got)
			}
		}
		checkExportedColumns(t, st, w, "sentiment")
	})
}

// contactExportGaps lists the tables that can hold a contact's data and
// that ExportContact neither exports nor excludes, and the parts and
// exclusions that name a table that cannot.
func contactExportGaps(t testing.TB, st *store.Store) []string {
	t.Helper()
	refs := foreignKeys(t, st)
	// Tables that hold a contact's rows: contacts, and whatever refers to
	// one of them, by a foreign key or by a column's name.
	why := map[string]string{"contacts": "it is the contacts table"}
	held := []string{"contacts"}
	named := map[string]string{"contact_id": "contacts", "conversation_id": "conversations", "message_id": "messages"}
	for i := 0; i < len(held); i++ {
		for _, r := range refs {
			if r.parent == held[i] && why[r.child] == "" {
				why[r.child] = fmt.Sprintf("%s.%s references %s", r.child, r.column, r.parent)
				held = append(held, r.child)
			}
		}
		for _, c := range columns(t, st) {
			table, col, _ := strings.Cut(c, ".")
			for suffix, parent := range named {
				if parent == held[i] && strings.HasSuffix(col, suffix) && why[table] == "" {
					why[table] = fmt.Sprintf("%s names %s", c, parent)
					held = append(held, table)
				}
			}
		}
	}
	exported := map[string]bool{}
	for _, p := range append(slices.Clone(contactParts), contactNotes...) {
		exported[p.table] = true
	}
	var out []string
	for _, table := range held {
		if !exported[table] && contactExcluded[table] == "" {
			out = append(out, fmt.Sprintf("%s can hold a contact's data (%s): export it in contactParts or give a reason in contactExcluded", table, why[table]))
		}
	}
	for table := range exported {
		if why[table] == "" {
			out = append(out, fmt.Sprintf("contactParts exports %s, which holds no contact's rows: remove or correct the part", table))
		}
	}
	for table := range contactExcluded {
		if why[table] == "" {
			out = append(out, fmt.Sprintf("contactExcluded names %s, which holds no contact's rows: remove it", table))
		}
		if exported[table] {
			out = append(out, fmt.Sprintf("%s is both exported and excluded", table))
		}
	}
	slices.Sort(out)
	return out
}

// checkExportedColumns exports Alice from a full fixture (newWorld and
// addExportRows) and checks that every file has rows, and that each part's
// objects carry every column of its table but the excluded ones, and want.
func checkExportedColumns(t *testing.T, st *store.Store, w *world, want string) {
	t.Helper()
	var buf bytes.Buffer
	counts, err := ExportContact(context.Background(), st.Pool, w.alice, &buf)
	if err != nil {
		t.Fatal(err)
	}
	files := unzip(t, buf.Bytes())
	cols := map[string][]string{}
	generated := map[string]bool{}
	for _, c := range columns(t, st) {
		table, col, _ := strings.Cut(c, ".")
		cols[table] = append(cols[table], col)
	}
	rows, err := st.Pool.Query(context.Background(), `SELECT table_name || '.' || column_name FROM information_schema.columns
		WHERE table_schema = 'public' AND is_generated = 'ALWAYS'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		rows.Scan(&c)
		generated[c] = true
	}
	rows.Close()
	for name, n := range counts {
		if n == 0 {
			t.Errorf("%s is empty: add a row to the fixture (addExportRows), so that its columns are checked", name)
		}
	}
	check := func(p part, objs []map[string]any) {
		for _, col := range cols[p.table] {
			_, excluded := excludedColumn(p.table + "." + col)
			excluded = excluded || generated[p.table+"."+col]
			for _, o := range objs {
				if _, ok := o[col]; ok == excluded {
					t.Errorf("%s: %s.%s exported %v, excluded %v", p.file, p.table, col, ok, excluded)
					break
				}
			}
		}
	}
	for _, p := range contactParts {
		check(p, objects(t, p.file, files[p.file]))
	}
	var notes map[string][]map[string]any
	if err := json.Unmarshal(files["notes.json"], &notes); err != nil {
		t.Fatalf("notes.json: %v", err)
	}
	check(contactNotes[0], notes["about_contact"])
	check(contactNotes[1], notes["in_conversations"])
	if want != "" && !bytes.Contains(files["messages.jsonl"], []byte(`"`+want+`"`)) {
		t.Errorf("messages.jsonl lacks the new column %s", want)
	}
}
