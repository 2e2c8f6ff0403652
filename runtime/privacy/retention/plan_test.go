package retention

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

// TestPlanMatchesEnforce applies sets of rules whose categories overlap (a
// delivery event of an old conversation is also an old delivery event; an
// old contact's conversation may be old too; their usage may be old) and
// holds Plan's counts to what Enforce then does, category by category and
// table by table.
func TestPlanMatchesEnforce(t *testing.T) {
	tmpl, _ := template(t)
	all := func(a Action) []Rule {
		var rs []Rule
		for _, s := range Categories {
			rs = append(rs, Rule{s.Category, retain, a})
		}
		return rs
	}
	day := retain / 30
	for name, rules := range map[string][]Rule{
		"all Delete":    all(Delete),
		"all Anonymize": all(Anonymize),
		"mixed": {{Sessions, retain, Delete}, {AuditLog, retain, Delete}, {UsageEvents, retain, Anonymize}, {FinancialRecords, retain, Anonymize},
			{DeliveryEvents, retain, Anonymize}, {Conversations, retain, Delete}, {Contacts, retain, Anonymize}},
		// Contacts kept less long than conversations: Yara's recent
		// conversation goes with her, her old one with the conversations rule.
		"contacts shorter": {{DeliveryEvents, retain, Delete}, {Conversations, retain, Anonymize}, {Contacts, retain - day, Delete}, {UsageEvents, retain, Delete}},
		"contacts only":    {{Contacts, retain - day, Delete}},
	} {
		t.Run(name, func(t *testing.T) {
			st, _ := newDB(t, tmpl)
			rep := enforce(t, st, Options{}, rules...)
			var total int64
			for _, c := range rep.Categories {
				total += c.Rows()
			}
			if total == 0 {
				t.Error("nothing was done")
			}
		})
	}
}

var errStop = errors.New("stopped")

// TestInterruptedRunsConverge stops runs after every few batches (as a
// crash or a cancelled context would, between batches) and again in the
// middle of a batch (a deadline), and runs again until a run completes:
// the database ends as one uninterrupted run leaves it, and the counts of
// the runs stopped between batches add up to the plan.
func TestInterruptedRunsConverge(t *testing.T) {
	st0, tmpl := newDB(t, "")
	w := newWorld(t, st0.Pool)
	bulk(t, st0, w.agent, 60, 12)
	st0.Close()
	for _, rules := range [][]Rule{
		{{Sessions, retain, Delete}, {DeliveryEvents, retain, Delete}, {Conversations, retain, Delete}, {Contacts, retain, Delete}, {UsageEvents, retain, Delete}},
		{{UsageEvents, retain, Anonymize}, {Conversations, retain, Anonymize}, {Contacts, retain, Anonymize}, {AuditLog, retain, Anonymize}},
	} {
		t.Run(string(rules[len(rules)-1].Action), func(t *testing.T) {
			whole, _ := newDB(t, tmpl)
			enforce(t, whole, Options{BatchSize: 25}, rules...)
			want := snapshot(t, whole)

			st, _ := newDB(t, tmpl)
			plan, err := Plan(bg, st.Pool, rules, now)
			if err != nil {
				t.Fatal(err)
			}
			sum := map[Category][2]privacy.Counts{}
			runs := 0
			for ; ; runs++ {
				n := 0
				rep, err := Enforce(bg, st.Pool, rules, now, Options{BatchSize: 25, Key: testKey, AfterBatch: func(Batch) error {
					if n++; n == 3 {
						return errStop
					}
					return nil
				}})
				for _, c := range rep.Categories {
					s := sum[c.Category]
					if s[0] == nil {
						s = [2]privacy.Counts{{}, {}}
					}
					s[0].Add(c.Deleted)
					s[1].Add(c.Anonymized)
					sum[c.Category] = s
				}
				if err == nil {
					break
				}
				if !errors.Is(err, errStop) {
					t.Fatal(err)
				}
			}
			if runs < 10 {
				t.Errorf("only %d runs were stopped", runs)
			}
			for _, p := range plan {
				if s := sum[p.Category]; !maps.Equal(s[0], p.Deleted) || !maps.Equal(s[1], p.Anonymized) {
					t.Errorf("%s: the stopped runs did\n %v %v\nthe plan said\n %v %v", p.Category, s[0], s[1], p.Deleted, p.Anonymized)
				}
			}
			if got := snapshot(t, st); !maps.Equal(got, want) {
				t.Errorf("after stopped runs the database differs from after one run")
			}

			// Deadlines in the middle of batches: whatever was committed stays, the rest is done by a later run.
			cut, _ := newDB(t, tmpl)
			for i := 0; ; i++ {
				ctx, cancel := context.WithTimeout(bg, time.Duration(20*(i+1))*time.Millisecond)
				_, err := Enforce(ctx, cut.Pool, rules, now, Options{BatchSize: 25, Key: testKey})
				cancel()
				if err == nil {
					break
				}
				if i > 500 {
					t.Fatalf("no run completed: %v", err)
				}
			}
			if got := snapshot(t, cut); !maps.Equal(got, want) {
				t.Errorf("after runs cut short the database differs from after one run")
			}
		})
	}
}

// bulk adds an old contact with convs conversations of msgs messages each
// (and a delivery event, an attachment, a webhook and a usage event per
// message), all old.
func bulk(t testing.TB, st *store.Store, agent int64, convs, msgs int) {
	t.Helper()
	c := id(t, st.Pool, `INSERT INTO contacts (name, emails, created_at, updated_at) VALUES ('Bulk Person', '{bulk@example.com}', $1, $1) RETURNING id`, long)
	exec(t, st.Pool, `INSERT INTO conversations (channel, contact_id, subject, last_message_at, created_at, updated_at)
		SELECT 'api', $1, 'bulk ' || g, $2::timestamptz - g * interval '1 second', $2, $2 FROM generate_series(1, $3) g`, c, old, convs)
	exec(t, st.Pool, `INSERT INTO messages (conversation_id, channel, direction, author_id, body, external_id, created_at)
		SELECT v.id, 'api', 'outgoing', $2, 'bulk body ' || g, 'ext-' || v.id || '-' || g, $3
		FROM conversations v, generate_series(1, $4) g WHERE v.contact_id = $1`, c, agent, old, msgs)
	exec(t, st.Pool, `INSERT INTO delivery_events (message_id, status, detail, at)
		SELECT m.id, 'failed', 'no such number +49170' || m.id, $2 FROM messages m JOIN conversations v ON v.id = m.conversation_id WHERE v.contact_id = $1`, c, old)
	exec(t, st.Pool, `INSERT INTO attachments (message_id, filename, content_type, size, sha256)
		SELECT m.id, 'file-' || m.id || '.txt', 'text/plain', 1, 'x' FROM messages m JOIN conversations v ON v.id = m.conversation_id WHERE v.contact_id = $1`, c)
	exec(t, st.Pool, `INSERT INTO outbox (kind, message_id, payload)
		SELECT 'deliver', m.id, '{}' FROM messages m JOIN conversations v ON v.id = m.conversation_id WHERE v.contact_id = $1`, c)
	exec(t, st.Pool, `INSERT INTO usage_events (kind, user_id, contact_id, conversation_id, message_id, channel, at)
		SELECT 'message_sent', $2, $1, m.conversation_id, m.id, 'api', $3 FROM messages m JOIN conversations v ON v.id = m.conversation_id WHERE v.contact_id = $1`, c, agent, old)
	exec(t, st.Pool, `ANALYZE`)
}

// snapshot is every row of every table as JSON, by table and row; a
// deal's updated_at is the clock's when its contact was unlinked, and is
// left out.
func snapshot(t testing.TB, st *store.Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range ids64str(t, st) {
		rows, err := st.Pool.Query(bg, fmt.Sprintf(`SELECT (to_jsonb(t) - 'updated_at')::text FROM %s t`, table))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out[table+" "+s]++
		}
		rows.Close()
	}
	return out
}

func ids64str(t testing.TB, st *store.Store) []string {
	rows, err := st.Pool.Query(bg, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}
