package retention

import (
	"bytes"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

// enforce runs Plan and then Enforce with rules, and fails unless Enforce
// did what Plan said.
func enforce(t *testing.T, st *store.Store, opts Options, rules ...Rule) Report {
	t.Helper()
	plan, err := Plan(bg, st.Pool, rules, now)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Key == nil {
		opts.Key = testKey
	}
	rep, err := Enforce(bg, st.Pool, rules, now, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != len(rep.Categories) {
		t.Fatalf("plan has %d categories, the report %d", len(plan), len(rep.Categories))
	}
	for i, p := range plan {
		got := rep.Categories[i].Outcome
		if p.Category != got.Category || !p.Cutoff.Equal(got.Cutoff) || !maps.Equal(p.Deleted, got.Deleted) || !maps.Equal(p.Anonymized, got.Anonymized) {
			t.Errorf("%s: the plan said\n deleted %v\n anonymised %v\nEnforce did\n deleted %v\n anonymised %v",
				p.Category, p.Deleted, p.Anonymized, got.Deleted, got.Anonymized)
		}
	}
	return rep
}

// exists says whether sql (a SELECT of one boolean) is true.
func is(t testing.TB, q store.Querier, sql string, args ...any) bool {
	t.Helper()
	var v bool
	if err := q.QueryRow(bg, sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

type check struct {
	what string
	sql  string // a boolean, true when the rule was followed
	args []any
}

// TestEnforcePerCategory applies, to a fresh copy of the world, one rule
// at a time (each category, each action) and checks the rows one by one: a
// minute older than the cutoff goes (or is anonymised), a minute younger
// stays as it was, restricted contacts' data stays. Plan must have said
// exactly what Enforce did.
func TestEnforcePerCategory(t *testing.T) {
	tmpl, w := template(t)
	contactKey := func(c int64) []byte { return Pseudonym(testKey, fmt.Sprintf("contact:%d", c)) }
	userKey := Pseudonym(testKey, fmt.Sprintf("user:%d", w.agent))
	gone := func(what, table, cond string, args ...any) check {
		return check{what + " is gone", "NOT EXISTS (SELECT 1 FROM " + table + " WHERE " + cond + ")", args}
	}
	stays := func(what, table, cond string, args ...any) check {
		return check{what + " stays", "EXISTS (SELECT 1 FROM " + table + " WHERE " + cond + ")", args}
	}
	convGone := func(who string, conv int64) []check {
		return []check{
			gone(who+"'s conversation", "conversations", "id = $1", conv),
			gone(who+"'s messages", "messages", "conversation_id = $1", conv),
			gone(who+"'s attachments", "attachments a JOIN messages m ON m.id = a.message_id", "m.conversation_id = $1", conv),
			gone(who+"'s conversation events", "conversation_events", "conversation_id = $1", conv),
			gone("the notification of "+who+"'s note", "notifications", "conversation_id = $1", conv),
			// Their messages are gone, so are the rows that named them.
			{who + "'s delivery events and webhooks are gone", "NOT EXISTS (SELECT 1 FROM delivery_events d LEFT JOIN messages m ON m.id = d.message_id WHERE m.id IS NULL) AND NOT EXISTS (SELECT 1 FROM outbox o LEFT JOIN messages m ON m.id = o.message_id WHERE m.id IS NULL)", nil},
		}
	}
	convIntact := func(who string, conv int64) []check {
		return []check{
			stays(who+"'s conversation, as it was", "conversations", "id = $1 AND contact_id IS NOT NULL AND subject <> '' AND anonymized_at IS NULL", conv),
			{who + "'s messages stay as they were", "(SELECT count(*) FROM messages WHERE conversation_id = $1 AND body <> '') = 3", []any{conv}},
			stays(who+"'s attachment", "attachments a JOIN messages m ON m.id = a.message_id", "m.conversation_id = $1 AND a.data IS NOT NULL AND a.filename <> ''", conv),
			stays(who+"'s webhook", "outbox o JOIN messages m ON m.id = o.message_id", "m.conversation_id = $1", conv),
			stays("the notification of "+who+"'s note", "notifications", "conversation_id = $1", conv),
		}
	}
	convAnonymized := func(who string, conv, contact int64) []check {
		return []check{
			stays(who+"'s conversation, anonymised", "conversations", "id = $1 AND contact_id IS NULL AND contact_key = $2 AND subject = '' AND anonymized_at = $3 AND channel = 'whatsapp' AND tags = '{billing}'", conv, contactKey(contact), now),
			{who + "'s messages are kept, without bodies or senders' ids", "(SELECT count(*) FROM messages WHERE conversation_id = $1 AND body = '' AND external_id IS NULL AND search = ''::tsvector) = 3", []any{conv}},
			stays(who+"'s attachment, without file or name", "attachments a JOIN messages m ON m.id = a.message_id", "m.conversation_id = $1 AND a.data IS NULL AND a.filename = '' AND a.sha256 = '' AND a.size = 4", conv),
			{who + "'s delivery events are kept without details", "(SELECT count(*) FROM delivery_events d JOIN messages m ON m.id = d.message_id WHERE m.conversation_id = $1 AND d.detail = '') = 2", []any{conv}},
			gone(who+"'s webhook", "outbox o JOIN messages m ON m.id = o.message_id", "m.conversation_id = $1", conv),
			stays(who+"'s timeline event", "conversation_events", "conversation_id = $1", conv),
			gone("the notification of "+who+"'s note", "notifications", "conversation_id = $1", conv),
		}
	}
	cases := []struct {
		rule   Rule
		checks []check
	}{
		{Rule{Sessions, retain, Delete}, []check{
			gone("the idle session", "sessions", "token_hash = '\\x01'"), stays("the recent session", "sessions", "token_hash = '\\x02'"),
			gone("the old failure", "login_failures", "key_hash = '\\x01'"), stays("the recent failure", "login_failures", "key_hash = '\\x02'"),
			gone("the invitation accepted long ago", "invites", "token_hash = '\\x01'"), gone("the lapsed invitation", "invites", "token_hash = '\\x03'"),
			stays("the pending invitation", "invites", "token_hash = '\\x02'"),
			gone("the token revoked long ago", "api_tokens", "token_hash = '\\x01'"), stays("the live token", "api_tokens", "token_hash = '\\x02'"),
			stays("the token expired lately", "api_tokens", "token_hash = '\\x03'"),
		}},
		{Rule{Sessions, retain, Anonymize}, []check{
			gone("the idle session", "sessions", "token_hash = '\\x01'"), stays("the recent session", "sessions", "token_hash = '\\x02'"),
			gone("the lapsed invitation", "invites", "token_hash = '\\x03'"), stays("the live token", "api_tokens", "token_hash = '\\x02'"),
		}},
		{Rule{AuditLog, retain, Delete}, []check{
			gone("the old entry", "audit_log", "id = $1", w.oldAudit), stays("the recent entry", "audit_log", "id = $1", w.youngAudit),
		}},
		{Rule{AuditLog, retain, Anonymize}, []check{
			stays("the old entry, anonymised", "audit_log", "id = $1 AND actor_id IS NULL AND actor_key = $2 AND object_id = $3 AND at = date_trunc('hour', $4::timestamptz) AND action = 'contact.updated'",
				w.oldAudit, userKey, TextPseudonym(testKey, fmt.Sprintf("contact:%d", w.olive)), old),
			stays("the recent entry, as it was", "audit_log", "id = $1 AND actor_id = $2 AND object_id = $3::bigint::text AND anonymized_at IS NULL", w.youngAudit, w.agent, w.yara),
		}},
		{Rule{UsageEvents, retain, Delete}, []check{
			gone("old usage", "usage_events", "at < $1", cut), stays("recent usage", "usage_events", "id = $1", w.youngUsage),
			{"all recent usage stays", "(SELECT count(*) FROM usage_events WHERE at > $1) = 2", []any{cut}},
		}},
		{Rule{UsageEvents, retain, Anonymize}, []check{
			stays("the old sign-in, anonymised", "usage_events", "id = $1 AND user_id IS NULL AND user_key = $2 AND anonymized_at = $3 AND kind = 'sign_in'", w.oldUsage, userKey, now),
			stays("Olive's old message, anonymised", "usage_events", "contact_id IS NULL AND contact_key = $1 AND conversation_id IS NULL AND message_id IS NULL AND channel = 'whatsapp'", contactKey(w.olive)),
			{"no old usage names anyone", "NOT EXISTS (SELECT 1 FROM usage_events WHERE at < $1 AND (user_id IS NOT NULL OR contact_id IS NOT NULL OR conversation_id IS NOT NULL))", []any{cut}},
			stays("the recent sign-in, as it was", "usage_events", "id = $1 AND user_id = $2 AND anonymized_at IS NULL", w.youngUsage, w.agent),
			stays("Yara's recent message, as it was", "usage_events", "contact_id = $1 AND conversation_id = $2", w.yara, w.yaraConv),
		}},
		{Rule{FinancialRecords, retain, Delete}, []check{
			gone("the old invoice", "financial_records", "id = $1", w.oldInvoice), stays("the recent invoice", "financial_records", "id = $1", w.youngInvoice),
		}},
		{Rule{FinancialRecords, retain, Anonymize}, []check{
			stays("the old invoice, anonymised", "financial_records", "id = $1 AND billing_name IS NULL AND billing_email IS NULL AND billing_address IS NULL AND tax_id IS NULL AND external_id IS NULL AND number = 'INV-1' AND amount_minor = 1000", w.oldInvoice),
			stays("the recent invoice, as it was", "financial_records", "id = $1 AND billing_name = 'Billy Buyer' AND anonymized_at IS NULL", w.youngInvoice),
		}},
		{Rule{DeliveryEvents, retain, Delete}, []check{
			gone("the old event of a recent message", "delivery_events", "id = $1", w.oldDelivery),
			stays("the recent event", "delivery_events", "id = $1", w.youngDelivery),
			gone("old events", "delivery_events d JOIN messages m ON m.id = d.message_id", "d.at < $1 AND m.conversation_id <> $2", cut, w.ritaConv),
			{"the restricted contact's events stay", "(SELECT count(*) FROM delivery_events d JOIN messages m ON m.id = d.message_id WHERE m.conversation_id = $1) = 2", []any{w.ritaConv}},
		}},
		{Rule{DeliveryEvents, retain, Anonymize}, []check{
			stays("the old event, without detail", "delivery_events", "id = $1 AND detail = '' AND status = 'queued'", w.oldDelivery),
			stays("the recent event, as it was", "delivery_events", "id = $1 AND detail <> ''", w.youngDelivery),
			stays("the restricted contact's details", "delivery_events d JOIN messages m ON m.id = d.message_id", "m.conversation_id = $1 AND d.detail <> ''", w.ritaConv),
		}},
		{Rule{Conversations, retain, Delete}, concat(convGone("Olive", w.oliveConv), convGone("Yara's old", w.yaraOldConv), convIntact("Yara", w.yaraConv), convIntact("Rita", w.ritaConv), []check{
			stays("Olive, whose last activity is kept", "contacts", "id = $1 AND purged_activity_at = $2", w.olive, old),
			stays("Yara's old delivery event (deliveryEvents' to decide)", "delivery_events", "id = $1", w.oldDelivery),
		})},
		{Rule{Conversations, retain, Anonymize}, concat(convAnonymized("Olive", w.oliveConv, w.olive), convAnonymized("Yara's old", w.yaraOldConv, w.yara), convIntact("Yara", w.yaraConv), convIntact("Rita", w.ritaConv), []check{
			stays("Olive, whose last activity is kept", "contacts", "id = $1 AND purged_activity_at = $2", w.olive, old),
		})},
		{Rule{Contacts, retain, Delete}, concat(convGone("Olive", w.oliveConv), convIntact("Yara", w.yaraConv), convIntact("Rita", w.ritaConv), []check{
			gone("Olive", "contacts", "id = $1", w.olive), gone("Olive's identities", "contact_identities", "contact_id = $1", w.olive),
			gone("Olive's note", "notes", "contact_id = $1", w.olive),
			stays("Olive's deal, without her", "deals", "id = $1 AND contact_id IS NULL", w.oliveDeal),
			stays("Olive's usage, without her", "usage_events", "kind = 'message_received' AND contact_id IS NULL AND conversation_id = $1", w.oliveConv),
			stays("Yara, active lately", "contacts", "id = $1", w.yara), stays("Yara's old conversation (conversations' to decide)", "conversations", "id = $1", w.yaraOldConv),
			stays("Rita, restricted", "contacts", "id = $1", w.rita), stays("Pam, whose purged conversation was recent", "contacts", "id = $1", w.pam),
		})},
		{Rule{Contacts, retain, Anonymize}, concat(convAnonymized("Olive", w.oliveConv, w.olive), convIntact("Yara", w.yaraConv), []check{
			stays("Olive, anonymised", "contacts", "id = $1 AND name = '' AND emails = '{}' AND phones = '{}' AND custom = '{}' AND tags = '{}' AND address = '' AND anonymized_at = $2", w.olive, now),
			gone("Olive's identities", "contact_identities", "contact_id = $1", w.olive), gone("Olive's note", "notes", "contact_id = $1", w.olive),
			stays("Olive's deal, with her anonymous row", "deals", "id = $1 AND contact_id = $2", w.oliveDeal, w.olive),
			stays("Yara, as she was", "contacts", "id = $1 AND name = 'Yara Youngperson'", w.yara),
			stays("Rita, as she was", "contacts", "id = $1 AND name = 'Rita Restricted'", w.rita),
			stays("Pam, as she was", "contacts", "id = $1 AND name = 'Pam Purged'", w.pam),
		})},
	}
	for _, tc := range cases {
		t.Run(string(tc.rule.Category)+"/"+string(tc.rule.Action), func(t *testing.T) {
			st, _ := newDB(t, tmpl)
			rep := enforce(t, st, Options{}, tc.rule)
			if rep.Categories[0].Rows() == 0 {
				t.Errorf("nothing was done")
			}
			for _, c := range tc.checks {
				if !is(t, st.Pool, "SELECT "+c.sql, c.args...) {
					t.Errorf("%s: not so", c.what)
				}
			}
			again, err := Enforce(bg, st.Pool, []Rule{tc.rule}, now, Options{Key: testKey})
			if err != nil || again.Categories[0].Rows() != 0 {
				t.Errorf("a second run changed %v %v, %v", again.Categories[0].Deleted, again.Categories[0].Anonymized, err)
			}
		})
	}
}

func concat(cs ...[]check) []check {
	var out []check
	for _, c := range cs {
		out = append(out, c...)
	}
	return out
}

// TestPseudonymInSQL holds PostgreSQL's HMAC (from the key's pads) to Go's.
func TestPseudonymInSQL(t *testing.T) {
	st, _ := newDB(t, "")
	p, err := newPads(testKey)
	if err != nil {
		t.Fatal(err)
	}
	var a args
	q := "SELECT " + a.hmacSQL(p, a.add("contact:42")+"::text")
	var got []byte
	if err := st.Pool.QueryRow(bg, q, a...).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want := Pseudonym(testKey, "contact:42"); !bytes.Equal(got, want) {
		t.Errorf("SQL HMAC %x, Go HMAC %x", got, want)
	}
	if _, err := Enforce(bg, st.Pool, []Rule{{Category: UsageEvents, Action: Anonymize}}, now, Options{}); err == nil {
		t.Error("anonymising usage without a key was not refused")
	}
	if _, err := Enforce(bg, st.Pool, []Rule{{Category: "chats"}}, now, Options{}); err == nil {
		t.Error("an unknown category was not refused")
	}
	_ = time.Second
	_ = privacy.Counts{}
}
