package retention

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// retain is every rule's retainFor in the fixture; now is the time the
// rules are applied at, and cut = now - retain.
const retain = 30 * 24 * time.Hour

// Ages on either side of the cutoff: a minute older, a minute younger.
var (
	now   = time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)
	cut   = now.Add(-retain)
	old   = cut.Add(-time.Minute)
	young = cut.Add(time.Minute)
	long  = cut.Add(-400 * 24 * time.Hour)
)

// testKey is the fixture's pseudonymisation key.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// Personal data of the contacts, which no anonymisation may leave: names,
// addresses, numbers, message bodies, file names, providers' details,
// billing details.
var needles = []string{
	"Olive Oldperson", "olive@old.example", "+4917000000001", "olive's secret body", "olive-passport.pdf", "note about olive",
	"Yara Youngperson", "yara@young.example", "+4917000000002", "yara's old words", "yara's new words", "yara-cv.pdf",
	"Pam Purged", "pam@purged.example",
	"Olive Street 7", "Yara Street 7", "Pam Street 7", // contacts' postal addresses
	"delivered to +4917000000001", "Billy Buyer", "billy@buyer.example", "Buyer Street 1", "DE123456789",
}

// world is the fixture: for every category, rows a minute older and a
// minute younger than the cutoff.
type world struct {
	agent int64
	// Olive: everything of hers is old. Yara: an old and a young
	// conversation, so she is young. Rita: old but restricted. Pam: old,
	// but a conversation of hers was purged recently (purged_activity_at).
	olive, yara, rita, pam                     int64
	oliveConv, yaraOldConv, yaraConv, ritaConv int64
	oliveDeal                                  int64
	// Delivery events in Yara's young conversation, by their own age.
	oldDelivery, youngDelivery int64
	oldUsage, youngUsage       int64
	oldAudit, youngAudit       int64
	oldInvoice, youngInvoice   int64
}

// conversation adds a conversation whose messages and events are all at
// time at: an incoming message with an attachment, a reply with two
// delivery events and a queued webhook, a note that mentions the agent
// (a notification), and an assignment event.
func conversation(t testing.TB, q store.Querier, contact, agent int64, at time.Time, incoming, attachment string) int64 {
	t.Helper()
	c := id(t, q, `INSERT INTO conversations (channel, contact_id, subject, assignee_id, tags, last_message_at, created_at, updated_at)
		VALUES ('whatsapp', $1, $4, $2, '{billing}', $3, $3, $3) RETURNING id`, contact, agent, at, "About "+incoming)
	in := id(t, q, `INSERT INTO messages (conversation_id, channel, direction, body, external_id, created_at)
		VALUES ($1, 'whatsapp', 'incoming', $2, $4, $3) RETURNING id`, c, incoming, at, fmt.Sprintf("wamid.%d", c))
	exec(t, q, `INSERT INTO attachments (message_id, filename, content_type, size, sha256, data) VALUES ($1, $2, 'application/pdf', 4, 'abc', '\x01020304')`, in, attachment)
	out := id(t, q, `INSERT INTO messages (conversation_id, channel, direction, author_id, body, delivery_status, created_at)
		VALUES ($1, 'whatsapp', 'outgoing', $2, $3, 'delivered', $4) RETURNING id`, c, agent, "Hello, re: "+incoming, at)
	exec(t, q, `INSERT INTO delivery_events (message_id, status, detail, at) VALUES ($1, 'sent', '', $2), ($1, 'delivered', 'delivered to +4917000000001', $2)`, out, at)
	exec(t, q, `INSERT INTO outbox (kind, message_id, payload, delivered_at) VALUES ('deliver', $1, jsonb_build_object('body', $2::text), $3)`, out, incoming, at)
	note := id(t, q, `INSERT INTO messages (conversation_id, channel, direction, author_id, body, created_at) VALUES ($1, 'whatsapp', 'note', $2, $3, $4) RETURNING id`, c, agent, "note on "+incoming, at)
	exec(t, q, `INSERT INTO notifications (user_id, kind, conversation_id, message_id, created_at) VALUES ($1, 'mention', $2, $3, $4)`, agent, c, note, at)
	exec(t, q, `INSERT INTO conversation_events (conversation_id, actor_id, kind, data, at) VALUES ($1, $2, 'assigned', jsonb_build_object('to', $2::bigint), $3)`, c, agent, at)
	exec(t, q, `INSERT INTO usage_events (kind, contact_id, conversation_id, message_id, channel, at) VALUES ('message_received', $1, $2, $3, 'whatsapp', $4)`, contact, c, in, at)
	return c
}

func contact(t testing.TB, q store.Querier, name, email, phone string, at time.Time) int64 {
	t.Helper()
	c := id(t, q, `INSERT INTO contacts (name, emails, phones, tags, custom, address, created_at, updated_at)
		VALUES ($1, ARRAY[$2], ARRAY[$3], '{lead}', jsonb_build_object('nickname', $1::text), split_part($1, ' ', 1) || ' Street 7', $4, $4) RETURNING id`,
		name, email, phone, at)
	exec(t, q, `INSERT INTO contact_identities (channel, identifier, contact_id) VALUES ('whatsapp', $1, $2)`, phone, c)
	return c
}

func newWorld(t testing.TB, q store.Querier) *world {
	t.Helper()
	w := &world{}
	w.agent = id(t, q, `INSERT INTO users (email, name, role, password_hash) VALUES ('agent@team.example', 'Arno Agent', 'agent', 'x') RETURNING id`)
	stage := id(t, q, `SELECT id FROM pipeline_stages ORDER BY id LIMIT 1`)

	w.olive = contact(t, q, "Olive Oldperson", "olive@old.example", "+4917000000001", long)
	w.oliveConv = conversation(t, q, w.olive, w.agent, old, "olive's secret body", "olive-passport.pdf")
	exec(t, q, `INSERT INTO notes (contact_id, author_id, body, created_at) VALUES ($1, $2, 'note about olive', $3)`, w.olive, w.agent, old)
	w.oliveDeal = id(t, q, `INSERT INTO deals (title, stage_id, contact_id, created_at, updated_at) VALUES ('Renewal', $1, $2, $3, $3) RETURNING id`, stage, w.olive, old)

	w.yara = contact(t, q, "Yara Youngperson", "yara@young.example", "+4917000000002", long)
	w.yaraOldConv = conversation(t, q, w.yara, w.agent, old, "yara's old words", "yara-cv.pdf")
	w.yaraConv = conversation(t, q, w.yara, w.agent, young, "yara's new words", "yara-photo.jpg")
	// Yara's young conversation has one delivery event of each age.
	reply := id(t, q, `SELECT id FROM messages WHERE conversation_id = $1 AND direction = 'outgoing'`, w.yaraConv)
	w.oldDelivery = id(t, q, `INSERT INTO delivery_events (message_id, status, detail, at) VALUES ($1, 'queued', 'queued for +4917000000002', $2) RETURNING id`, reply, old)
	w.youngDelivery = id(t, q, `INSERT INTO delivery_events (message_id, status, detail, at) VALUES ($1, 'read', 'read by +4917000000002', $2) RETURNING id`, reply, young)

	w.rita = contact(t, q, "Rita Restricted", "rita@restricted.example", "+4917000000003", long)
	w.ritaConv = conversation(t, q, w.rita, w.agent, old, "rita's words", "rita.pdf")
	exec(t, q, `UPDATE contacts SET processing_restricted = true, updated_at = $2 WHERE id = $1`, w.rita, long)

	w.pam = contact(t, q, "Pam Purged", "pam@purged.example", "+4917000000004", long)
	exec(t, q, `UPDATE contacts SET purged_activity_at = $2 WHERE id = $1`, w.pam, young)

	// Sessions: of each table, one row of each age (and a live token, a
	// pending invitation).
	exec(t, q, `INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) VALUES
		('\x01', $1, 'c', $2, $2, $4), ('\x02', $1, 'c', $2, $3, $4)`, w.agent, old, young, now.Add(time.Hour))
	exec(t, q, `INSERT INTO login_failures (key_hash, failed_at) VALUES ('\x01', $1), ('\x02', $2)`, old, young)
	exec(t, q, `INSERT INTO invites (email, role, token_hash, created_at, expires_at, accepted_at) VALUES
		('old.invitee@example.com', 'agent', '\x01', $1, $2, $1), ('new.invitee@example.com', 'agent', '\x02', $1, $2, NULL),
		('lapsed.invitee@example.com', 'agent', '\x03', $1, $1, NULL)`, old, now.Add(time.Hour))
	exec(t, q, `INSERT INTO api_tokens (user_id, name, prefix, token_hash, created_at, revoked_at, expires_at) VALUES
		($1, 'revoked long ago', 'sbt_a', '\x01', $2, $2, NULL), ($1, 'live', 'sbt_b', '\x02', $2, NULL, NULL),
		($1, 'expired lately', 'sbt_c', '\x03', $2, NULL, $3)`, w.agent, old, young)

	w.oldAudit = id(t, q, `INSERT INTO audit_log (at, actor_id, actor_kind, action, object_type, object_id) VALUES ($1, $2, 'user', 'contact.updated', 'contact', $3::bigint::text) RETURNING id`, old, w.agent, w.olive)
	w.youngAudit = id(t, q, `INSERT INTO audit_log (at, actor_id, actor_kind, action, object_type, object_id) VALUES ($1, $2, 'user', 'contact.updated', 'contact', $3::bigint::text) RETURNING id`, young, w.agent, w.yara)
	w.oldUsage = id(t, q, `INSERT INTO usage_events (kind, user_id, at) VALUES ('sign_in', $1, $2) RETURNING id`, w.agent, old)
	w.youngUsage = id(t, q, `INSERT INTO usage_events (kind, user_id, at) VALUES ('sign_in', $1, $2) RETURNING id`, w.agent, young)
	w.oldInvoice = id(t, q, `INSERT INTO financial_records (kind, number, issued_at, currency, amount_minor, billing_name, billing_email, billing_address, tax_id, external_id)
		VALUES ('invoice', 'INV-1', $1, 'EUR', 1000, 'Billy Buyer', 'billy@buyer.example', 'Buyer Street 1', 'DE123456789', 'in_1') RETURNING id`, old)
	w.youngInvoice = id(t, q, `INSERT INTO financial_records (kind, number, issued_at, currency, amount_minor, billing_name, billing_email, billing_address, tax_id, external_id)
		VALUES ('invoice', 'INV-2', $1, 'EUR', 2000, 'Billy Buyer', 'billy@buyer.example', 'Buyer Street 1', 'DE123456789', 'in_2') RETURNING id`, young)
	return w
}

// template is a migrated database holding the world, copied by each test.
func template(t testing.TB) (string, *world) {
	t.Helper()
	st, name := newDB(t, "")
	w := newWorld(t, st.Pool)
	st.Close()
	return name, w
}
