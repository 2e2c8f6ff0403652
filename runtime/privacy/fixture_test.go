package privacy

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Personal data of the subject, Alice, that must be nowhere after her
// erasure: not in the database, not in the ledger.
var aliceNeedles = []string{
	"Alice Wonderperson", "alice.personal@example.org", "alice.personal", "+4915112345678", "4915112345678",
	"alice's secret message", "alice-passport.pdf", "shoe size 38",
}

// world is a workspace with a subject (Alice), a bystander (Bob) and the
// members who talk to both.
type world struct {
	owner, agent int64 // members
	company      int64
	alice, bob   int64 // contacts
	aliceDeal    int64
	bobConv      int64
	bobRows      map[string]int64 // rows of Bob's, per table
}

func exec(t testing.TB, q store.Querier, sql string, args ...any) {
	t.Helper()
	if _, err := q.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func id(t testing.TB, q store.Querier, sql string, args ...any) int64 {
	t.Helper()
	var v int64
	if err := q.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// addContact adds a contact with the given identities (channel, identifier).
func addContact(t testing.TB, q store.Querier, name string, emails, phones []string, company *int64, identities ...[2]string) int64 {
	t.Helper()
	c := id(t, q, `INSERT INTO contacts (name, emails, phones, company_id) VALUES ($1, $2, $3, $4) RETURNING id`, name, emails, phones, company)
	for _, i := range identities {
		exec(t, q, `INSERT INTO contact_identities (channel, identifier, contact_id) VALUES ($1, $2, $3)`, i[0], i[1], c)
	}
	return c
}

// addConversation adds a conversation of contact's: an incoming message
// with an attachment, the agent's reply with two delivery events and a
// queued delivery, the agent's private note (which mentions the agent: a
// notification), and an assignment event.
// It returns the conversation's id.
func addConversation(t testing.TB, q store.Querier, contact, agent int64, channel, incoming, reply, attachment string) int64 {
	t.Helper()
	conv := id(t, q, `INSERT INTO conversations (channel, contact_id, subject, assignee_id, tags) VALUES ($1, $2, 'Question', $3, '{billing}') RETURNING id`, channel, contact, agent)
	in := id(t, q, `INSERT INTO messages (conversation_id, channel, direction, body) VALUES ($1, $2, 'incoming', $3) RETURNING id`, conv, channel, incoming)
	exec(t, q, `INSERT INTO attachments (message_id, filename, content_type, size, sha256, data) VALUES ($1, $2, 'application/pdf', 4, 'x', '\x01020304')`, in, attachment)
	out := id(t, q, `INSERT INTO messages (conversation_id, channel, direction, author_id, body, delivery_status) VALUES ($1, $2, 'outgoing', $3, $4, 'delivered') RETURNING id`, conv, channel, agent, reply)
	exec(t, q, `INSERT INTO delivery_events (message_id, status) VALUES ($1, 'sent'), ($1, 'delivered')`, out)
	exec(t, q, `INSERT INTO outbox (kind, message_id, payload) VALUES ('deliver', $1, jsonb_build_object('messageId', $1::bigint, 'conversationId', $2::bigint, 'body', $3::text))`, out, conv, reply)
	note := id(t, q, `INSERT INTO messages (conversation_id, channel, direction, author_id, body) VALUES ($1, $2, 'note', $3, 'internal note') RETURNING id`, conv, channel, agent)
	exec(t, q, `INSERT INTO notifications (user_id, kind, conversation_id, message_id) VALUES ($1, 'mention', $2, $3)`, agent, conv, note)
	exec(t, q, `INSERT INTO conversation_events (conversation_id, actor_id, kind, data) VALUES ($1, $2, 'assigned', jsonb_build_object('to', $2::bigint))`, conv, agent)
	return conv
}

func newWorld(t testing.TB, q store.Querier) *world {
	t.Helper()
	w := &world{}
	w.owner = id(t, q, `INSERT INTO users (email, name, role, password_hash) VALUES ('owner@team.example', 'Olga Owner', 'owner', 'x') RETURNING id`)
	w.agent = id(t, q, `INSERT INTO users (email, name, role, password_hash) VALUES ('agent@team.example', 'Arno Agent', 'agent', 'x') RETURNING id`)
	w.company = id(t, q, `INSERT INTO companies (name) VALUES ('Acme GmbH') RETURNING id`)
	stage := id(t, q, `SELECT id FROM pipeline_stages ORDER BY id LIMIT 1`)

	w.alice = addContact(t, q, "Alice Wonderperson", []string{"alice.personal@example.org"}, []string{"+4915112345678"}, &w.company,
		[2]string{"email", "alice.personal@example.org"}, [2]string{"whatsapp", "+4915112345678"})
	exec(t, q, `UPDATE contacts SET tags = '{vip}', custom = '{"note": "shoe size 38"}' WHERE id = $1`, w.alice)
	addConversation(t, q, w.alice, w.agent, "email", "alice's secret message, one", "Hello Alice Wonderperson", "alice-passport.pdf")
	addConversation(t, q, w.alice, w.agent, "whatsapp", "alice's secret message, two", "Hi again", "alice-photo.jpg")
	exec(t, q, `INSERT INTO notes (contact_id, author_id, body) VALUES ($1, $2, 'called alice.personal@example.org'), ($1, $2, 'prefers email')`, w.alice, w.agent)
	w.aliceDeal = id(t, q, `INSERT INTO deals (title, stage_id, owner_id, contact_id, company_id) VALUES ('Acme renewal', $1, $2, $3, $4) RETURNING id`,
		stage, w.agent, w.alice, w.company)
	exec(t, q, `INSERT INTO audit_log (actor_id, actor_kind, action, object_type, object_id) VALUES ($1, 'user', 'contact.update', 'contact', $2::bigint::text)`, w.agent, w.alice)
	exec(t, q, `INSERT INTO consent_events (contact_id, kind, source, actor_id) VALUES ($1, 'marketing_opt_out', 'agent', $2)`, w.alice, w.agent)

	w.bob = addContact(t, q, "Bob Bystander", []string{"bob@example.net"}, []string{"+4930123456"}, &w.company, [2]string{"email", "bob@example.net"})
	w.bobConv = addConversation(t, q, w.bob, w.agent, "email", "bob's question", "Hello Bob", "bob-invoice.pdf")
	exec(t, q, `INSERT INTO notes (contact_id, author_id, body) VALUES ($1, $2, 'bob note')`, w.bob, w.agent)
	// The agent mentions the owner in a note of Bob's conversation.
	exec(t, q, `INSERT INTO notifications (user_id, kind, conversation_id, message_id, actor_id)
		SELECT $1, 'mention', conversation_id, id, author_id FROM messages WHERE conversation_id = $2 AND direction = 'note'`, w.owner, w.bobConv)
	exec(t, q, `INSERT INTO deals (title, stage_id, owner_id, contact_id, company_id) VALUES ('Bob deal', $1, $2, $3, $4)`, stage, w.agent, w.bob, w.company)
	w.bobRows = bobRows(t, q, w)
	return w
}

// bobRows counts the rows that are Bob's, or the members', per table.
func bobRows(t testing.TB, q store.Querier, w *world) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for table, sql := range map[string]string{
		"contacts":            `SELECT count(*) FROM contacts WHERE id = $1`,
		"contact_identities":  `SELECT count(*) FROM contact_identities WHERE contact_id = $1`,
		"conversations":       `SELECT count(*) FROM conversations WHERE contact_id = $1`,
		"messages":            `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = $1`,
		"messages by members": `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = $1 AND m.author_id IS NOT NULL`,
		"attachments":         `SELECT count(*) FROM attachments a JOIN messages m ON m.id = a.message_id JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = $1`,
		"delivery_events":     `SELECT count(*) FROM delivery_events d JOIN messages m ON m.id = d.message_id JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = $1`,
		"conversation_events": `SELECT count(*) FROM conversation_events e JOIN conversations c ON c.id = e.conversation_id WHERE c.contact_id = $1`,
		"outbox":              `SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message_id JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = $1`,
		"notes":               `SELECT count(*) FROM notes WHERE contact_id = $1`,
		"owner's notifications": `SELECT count(*) FROM notifications n JOIN conversations c ON c.id = n.conversation_id
			WHERE c.contact_id = $1 AND n.user_id IN (SELECT id FROM users WHERE role = 'owner')`,
		"deals":     `SELECT count(*) FROM deals WHERE contact_id = $1`,
		"members":   `SELECT count(*) FROM users WHERE $1 > 0`,
		"companies": `SELECT count(*) FROM companies WHERE $1 > 0`,
	} {
		out[table] = id(t, q, sql, w.bob)
	}
	return out
}

// mentions lists the tables that hold any of needles anywhere in a row.
func mentions(t testing.TB, q store.Querier, needles []string) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := q.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, table := range tables {
		for _, n := range needles {
			var hits int
			tb := pgx.Identifier{table}.Sanitize()
			if err := q.QueryRow(ctx, `SELECT count(*) FROM `+tb+` t WHERE strpos(lower(to_jsonb(t)::text), lower($1)) > 0`, n).Scan(&hits); err != nil {
				t.Fatal(err)
			}
			if hits > 0 {
				out = append(out, table+" holds "+strings.ToUpper(n[:1])+n[1:])
			}
		}
	}
	return out
}
