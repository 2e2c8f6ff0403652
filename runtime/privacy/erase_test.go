package privacy

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"strconv"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/test/harness"
)

// TestEraseContact erases Alice through the runtime's one step and checks
// the rows removed per table, that nothing of hers is left anywhere in the
// database, that Bob's conversation and the members who answered both are
// untouched, and that a second erasure changes nothing.
func TestEraseContact(t *testing.T) {
	ctx := context.Background()
	st, _ := newDB(t)
	w := newWorld(t, st.Pool)
	l := newLedger(t, "erase")

	counts, err := Erase(ctx, st.Pool, l, Entry{Kind: KindContact, SubjectID: w.alice, RequestID: "dsr-1"})
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{
		"contacts": 1, "contact_identities": 2, "notes": 2, "deals.contact_id": 1,
		"conversations": 2, "conversation_events": 2, "messages": 6, "attachments": 2, "delivery_events": 4, "outbox": 2,
		"notifications": 2, "consent_events": 1,
	}
	if !maps.Equal(counts, want) {
		t.Errorf("erasing Alice changed\n %v\nwant\n %v", counts, want)
	}
	if got := mentions(t, st.Pool, aliceNeedles); len(got) > 0 {
		t.Errorf("Alice's data is left after her erasure: %v", got)
	}

	t.Run("what is someone else's stays", func(t *testing.T) {
		// No conversation has more than one contact in this schema, so
		// "someone else's" is every other contact's conversations and the
		// members who wrote in Alice's.
		if got := bobRows(t, st.Pool, w); !maps.Equal(got, w.bobRows) {
			t.Errorf("Bob's rows changed:\n %v\nwere\n %v", got, w.bobRows)
		}
		var deal struct {
			contact *int64
			company *int64
			title   string
		}
		if err := st.Pool.QueryRow(ctx, `SELECT contact_id, company_id, title FROM deals WHERE id = $1`, w.aliceDeal).Scan(&deal.contact, &deal.company, &deal.title); err != nil {
			t.Fatalf("Alice's deal is gone: %v", err)
		}
		if deal.contact != nil || deal.company == nil || *deal.company != w.company {
			t.Errorf("Alice's deal: contact %v, company %v; want no contact, company %d", deal.contact, deal.company, w.company)
		}
		if n := id(t, st.Pool, `SELECT count(*) FROM audit_log WHERE object_type = 'contact' AND object_id = $1::bigint::text`, w.alice); n != 1 {
			t.Errorf("the audit log's entry about contact %d (ids only) is gone", w.alice)
		}
	})

	t.Run("the ledger records the erasure", func(t *testing.T) {
		entries, err := l.Since(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("the ledger holds %d entries, want 1", len(entries))
		}
		e := entries[0]
		// Four identifiers, none held by anyone else: two identities, an email, a phone.
		if e.Kind != KindContact || e.SubjectID != w.alice || e.RequestID != "dsr-1" || len(e.Hashes) != 4 || time.Since(e.ErasedAt) > time.Minute {
			t.Errorf("entry %+v", e)
		}
	})

	t.Run("erasing again is a no-op", func(t *testing.T) {
		again, err := Erase(ctx, st.Pool, l, Entry{Kind: KindContact, SubjectID: w.alice, RequestID: "dsr-1"})
		if err != nil || len(again) != 0 {
			t.Fatalf("second erasure: %v, %v; want no change", again, err)
		}
		tx, err := st.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		direct, err := EraseContact(ctx, tx, w.alice)
		if err != nil || direct == nil || len(direct) != 0 {
			t.Fatalf("EraseContact of an erased contact: %v, %v; want empty counts", direct, err)
		}
		if got := bobRows(t, st.Pool, w); !maps.Equal(got, w.bobRows) {
			t.Errorf("Bob's rows changed:\n %v\nwere\n %v", got, w.bobRows)
		}
	})
}

// TestEraseMember erases the agent: their account, sessions, tokens, teams
// and invitation go; what they wrote stays, without an author.
func TestEraseMember(t *testing.T) {
	ctx := context.Background()
	st, _ := newDB(t)
	w := newWorld(t, st.Pool)
	q := st.Pool
	team := id(t, q, `INSERT INTO teams (name) VALUES ('Support') RETURNING id`)
	exec(t, q, `INSERT INTO team_members (team_id, user_id) VALUES ($1, $2), ($1, $3)`, team, w.agent, w.owner)
	exec(t, q, `INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) VALUES ('\x01', $1, 'c', now() + interval '1 hour'), ('\x02', $1, 'c', now() + interval '1 hour')`, w.agent)
	exec(t, q, `INSERT INTO api_tokens (user_id, name, prefix, token_hash) VALUES ($1, 'ci', 'sb_', '\x03')`, w.agent)
	exec(t, q, `INSERT INTO oauth_states (state_hash, session_hash, user_id, integration, code_verifier, redirect_uri, expires_at)
		VALUES ('\x06', '\x01', $1, 'mail', '', 'https://acme.example/oauth/microsoft/callback', now())`, w.agent)
	exec(t, q, `INSERT INTO invites (email, role, token_hash, invited_by, expires_at, accepted_at) VALUES ('agent@team.example', 'agent', '\x04', $1, now(), now())`, w.owner)
	exec(t, q, `INSERT INTO invites (email, role, token_hash, invited_by, expires_at) VALUES ('new@team.example', 'viewer', '\x05', $1, now() + interval '1 day')`, w.agent)
	exec(t, q, `INSERT INTO canned_replies (shortcut, title, body, created_by) VALUES ('hi', 'Hi', 'Hello!', $1)`, w.agent)
	messages := id(t, q, `SELECT count(*) FROM messages`)
	l := newLedger(t, "member")

	counts, err := Erase(ctx, st.Pool, l, Entry{Kind: KindMember, SubjectID: w.agent, RequestID: "dsr-2"})
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{
		"users": 1, "sessions": 2, "oauth_states": 1, "api_tokens": 1, "team_members": 1, "invites": 1, "invites.invited_by": 1,
		"messages.author_id": 6, "notes.author_id": 3, "deals.owner_id": 2, "conversations.assignee_id": 3,
		"conversation_events.actor_id": 3, "canned_replies.created_by": 1,
		"notifications": 3, "notifications.actor_id": 1, "consent_events.actor_id": 1,
	}
	if !maps.Equal(counts, want) {
		t.Errorf("erasing the agent changed\n %v\nwant\n %v", counts, want)
	}
	if got := mentions(t, q, []string{"agent@team.example", "Arno Agent"}); len(got) > 0 {
		t.Errorf("the agent's data is left: %v", got)
	}
	if n := id(t, q, `SELECT count(*) FROM messages`); n != messages {
		t.Errorf("%d messages left of %d: what the member wrote must stay", n, messages)
	}
	if n := id(t, q, `SELECT count(*) FROM users WHERE id = $1`, w.owner); n != 1 {
		t.Error("the owner went too")
	}

	t.Run("the last owner is refused", func(t *testing.T) {
		before := mustSince(t, l)
		_, err := Erase(ctx, st.Pool, l, Entry{Kind: KindMember, SubjectID: w.owner, RequestID: "dsr-3"})
		if !errors.Is(err, ErrLastOwner) {
			t.Fatalf("erasing the last owner: %v, want ErrLastOwner", err)
		}
		if n := id(t, q, `SELECT count(*) FROM users WHERE id = $1`, w.owner); n != 1 {
			t.Error("the last owner was erased")
		}
		if after := mustSince(t, l); len(after) != len(before) {
			t.Errorf("a refused erasure was recorded: %d entries, were %d", len(after), len(before))
		}
		// A second, enabled owner makes it possible.
		exec(t, q, `INSERT INTO users (email, name, role, password_hash) VALUES ('second@team.example', 'S', 'owner', 'x')`)
		if _, err := Erase(ctx, st.Pool, l, Entry{Kind: KindMember, SubjectID: w.owner, RequestID: "dsr-3"}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEraseNeedsTheLedger: when the ledger entry cannot be written, nothing
// is erased.
func TestEraseNeedsTheLedger(t *testing.T) {
	ctx := context.Background()
	st, _ := newDB(t)
	w := newWorld(t, st.Pool)
	before := w.bobRows
	// A token that may read the ledger but not write it.
	prefix := ledgerPrefix("readonly")
	root := rootVault()
	if err := root.Sys().PutPolicy("ledger-readonly-"+w.name(), `path "`+kvMount+`/data/`+prefix+`/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"ledger-readonly-" + w.name()}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := vaultClient(t, tok.Auth.ClientToken)
	// The key exists already, so only the append fails.
	if _, err := NewLedger(rootClient(t), kvMount, prefix).hmacKey(ctx, true); err != nil {
		t.Fatal(err)
	}
	_, err = Erase(ctx, st.Pool, NewLedger(c, kvMount, prefix), Entry{Kind: KindContact, SubjectID: w.alice, RequestID: "dsr-4"})
	if err == nil {
		t.Fatal("Erase succeeded with a ledger it cannot write")
	}
	if got := mentions(t, st.Pool, []string{"alice.personal@example.org"}); len(got) == 0 {
		t.Error("Alice was erased although her ledger entry was not written")
	}
	if n := id(t, st.Pool, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = $1`, w.alice); n != 6 {
		t.Errorf("Alice has %d messages left, want all 6", n)
	}
	if got := bobRows(t, st.Pool, w); !reflect.DeepEqual(got, before) {
		t.Errorf("Bob's rows changed")
	}
}

// TestEraseInCallersTransaction: given a transaction, Erase works in a
// savepoint, and the caller's rollback undoes the erasure (its entry stays,
// harmlessly).
func TestEraseInCallersTransaction(t *testing.T) {
	ctx := context.Background()
	st, _ := newDB(t)
	w := newWorld(t, st.Pool)
	l := newLedger(t, "callertx")
	err := pgx.BeginFunc(ctx, st.Pool, func(tx pgx.Tx) error {
		if _, err := Erase(ctx, tx, l, Entry{Kind: KindContact, SubjectID: w.alice, RequestID: "dsr-5"}); err != nil {
			return err
		}
		if n := id(t, tx, `SELECT count(*) FROM contacts WHERE id = $1`, w.alice); n != 0 {
			t.Error("Alice is still there inside the transaction")
		}
		return errors.New("the caller changes its mind")
	})
	if err == nil {
		t.Fatal("expected the caller's error")
	}
	if n := id(t, st.Pool, `SELECT count(*) FROM contacts WHERE id = $1`, w.alice); n != 1 {
		t.Error("the caller's rollback did not undo the erasure")
	}
	if e := mustSince(t, l); len(e) != 1 {
		t.Errorf("%d entries; the append is durable before the caller's commit, want 1", len(e))
	}
}

func mustSince(t testing.TB, l *Ledger) []Entry {
	t.Helper()
	e, err := l.Since(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (w *world) name() string { return "w" + strconv.FormatInt(w.alice, 10) }

func rootClient(t testing.TB) *vaultapi.Client {
	c, _ := vaultClient(t, harness.RootToken)
	return c
}
