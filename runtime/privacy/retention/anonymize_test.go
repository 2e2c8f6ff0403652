package retention

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// TestAnonymizeLeavesNoPersonalData anonymises every category, with a
// cutoff past every row, and then scans every text column (text, text[],
// jsonb, and bytea read as text) of every table: no contact's name, email
// address, phone number, message body, file name, provider's detail or
// billing detail is left anywhere, and no column of a category's table
// holds anything shaped like an email address or a phone number. (Members'
// own accounts are kept: users is skipped by the shape scan.)
func TestAnonymizeLeavesNoPersonalData(t *testing.T) {
	tmpl, w := template(t)
	st, _ := newDB(t, tmpl)
	exec(t, st.Pool, `UPDATE contacts SET processing_restricted = false WHERE id = $1`, w.rita)
	if before := scan(t, st.Pool, needles); len(before) < len(needles) {
		t.Fatalf("before anonymisation, the scan finds only:\n%s", strings.Join(before, "\n"))
	}
	var rules []Rule
	for _, s := range Categories {
		rules = append(rules, Rule{Category: s.Category, RetainFor: 0, Action: Anonymize})
	}
	later := now.Add(365 * 24 * time.Hour)
	rep, err := Enforce(bg, st.Pool, rules, later, Options{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Categories {
		t.Logf("%s: deleted %v, anonymised %v", c.Category, c.Deleted, c.Anonymized)
	}
	if got := scan(t, st.Pool, append(needles, "Rita Restricted", "rita@restricted.example", "+4917000000003", "rita's words", "Rita Street 7")); len(got) > 0 {
		t.Errorf("personal data survives anonymisation:\n%s", strings.Join(got, "\n"))
	}
	if n := id(t, st.Pool, `SELECT count(*) FROM messages`); n != 12 {
		t.Errorf("%d messages are left, want all 12, anonymised", n)
	}
}

// scan lists "table.column holds X" for each needle found in any text
// column of any table, and each email- or phone-shaped value in the
// columns of the categories' tables.
func scan(t testing.TB, q store.Querier, needles []string) []string {
	t.Helper()
	rows, err := q.Query(bg, `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
		JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
		  AND c.data_type IN ('text', 'ARRAY', 'jsonb', 'bytea', 'character varying', 'tsvector') ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ table, name, typ string }
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (col, error) {
		var c col
		return c, r.Scan(&c.table, &c.name, &c.typ)
	})
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, s := range Categories {
		for _, tb := range s.Tables {
			covered[tb.Name] = true
		}
	}
	var out []string
	for _, c := range cols {
		expr := pgx.Identifier{c.name}.Sanitize() + "::text"
		if c.typ == "bytea" {
			expr = "encode(" + pgx.Identifier{c.name}.Sanitize() + ", 'escape')"
		}
		from := pgx.Identifier{c.table}.Sanitize()
		for _, n := range needles {
			if is(t, q, fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s WHERE strpos(lower(%s), lower($1)) > 0)`, from, expr), n) {
				out = append(out, fmt.Sprintf("%s.%s holds %q", c.table, c.name, n))
			}
		}
		if !covered[c.table] || c.typ == "bytea" {
			continue
		}
		var v string
		err := q.QueryRow(bg, fmt.Sprintf(`SELECT %s FROM %s WHERE %s ~* '[a-z0-9._%%+-]+@[a-z0-9-]+\.[a-z]+|\+?[0-9][0-9 ]{7,}' LIMIT 1`, expr, from, expr)).Scan(&v)
		if err == nil {
			out = append(out, fmt.Sprintf("%s.%s holds an address or number: %s", c.table, c.name, v))
		} else if err != pgx.ErrNoRows {
			t.Fatal(err)
		}
	}
	slices.Sort(out)
	return out
}
