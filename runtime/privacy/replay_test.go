package privacy

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/test/harness"
)

// TestReplayRestoredDatabase takes a copy of a workspace's database (the
// backup), then merges a duplicate of Alice into her and erases her and a
// member in the live database. Replaying the ledger's entries since the
// backup into the copy (the restore), with the operator's token, erases
// Alice by id, her merged duplicate by a recorded identifier, and the
// member; Bob, who shared an office phone with Alice, stays. A second
// replay changes nothing.
func TestReplayRestoredDatabase(t *testing.T) {
	ctx := context.Background()
	st, name := newDB(t)
	w := newWorld(t, st.Pool)
	q := st.Pool
	// Alice's duplicate, from another channel, with her email; and an
	// office phone Alice and Bob both have.
	dup := addContact(t, q, "A. Wonderperson", []string{"alice.personal@example.org"}, []string{}, nil, [2]string{"sms", "+4917000000001"})
	addConversation(t, q, dup, w.agent, "sms", "alice's secret message, by sms", "ok", "alice-sms.txt")
	exec(t, q, `UPDATE contacts SET phones = phones || '{+4930999999}' WHERE id IN ($1, $2)`, w.alice, w.bob)
	carol := addContact(t, q, "Carol", []string{"carol@example.com"}, []string{}, nil)

	st.Close()
	backup := copyDB(t, name)
	snapshot := time.Now()
	st = openDB(t, name)

	if _, err := st.MergeContacts(ctx, nil, w.alice, dup); err != nil {
		t.Fatal(err)
	}
	l := newLedger(t, "replay")
	if _, err := Erase(ctx, st.Pool, l, Entry{Kind: KindContact, SubjectID: w.alice, RequestID: "dsr-10"},
		Entry{Kind: KindMember, SubjectID: w.agent, RequestID: "dsr-11"}); err != nil {
		t.Fatal(err)
	}

	// The restore, as the operator runs it.
	op, _ := vaultClient(t, harness.OperatorToken)
	restore := NewLedger(op, kvMount, l.Prefix())
	entries, err := restore.Since(ctx, snapshot.Add(-ReplayMargin))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("%d entries since the backup, want 2", len(entries))
	}
	replay := func() ReplayReport {
		t.Helper()
		var r ReplayReport
		err := pgx.BeginFunc(ctx, backup.Pool, func(tx pgx.Tx) error {
			var err error
			r, err = restore.Replay(ctx, tx, entries)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := replay()
	if r.Entries != 2 || r.Erased != 2 || r.ByIdentifier != 1 {
		t.Errorf("replay: %+v; want 2 entries, 2 subjects erased by id, 1 contact by identifier", r)
	}
	if r.Counts["contacts"] != 2 || r.Counts["conversations"] != 3 || r.Counts["users"] != 1 || r.Counts["messages.author_id"] != 4 {
		t.Errorf("replay counts %v: want 2 contacts, 3 conversations, 1 user, 4 messages kept without the agent", r.Counts)
	}
	if got := mentions(t, backup.Pool, append(aliceNeedles, "alice's secret message, by sms", "+4917000000001", "agent@team.example")); len(got) > 0 {
		t.Errorf("after the replay the restored database still holds: %v", got)
	}
	for who, c := range map[string]int64{"Bob": w.bob, "Carol": carol} {
		if n := id(t, backup.Pool, `SELECT count(*) FROM contacts WHERE id = $1`, c); n != 1 {
			t.Errorf("%s was erased by the replay", who)
		}
	}
	bob := bobRows(t, backup.Pool, w)
	bob["members"], bob["messages by members"] = w.bobRows["members"], w.bobRows["messages by members"] // the agent is erased
	if !maps.Equal(bob, w.bobRows) {
		t.Errorf("Bob's rows after the replay:\n %v\nwere\n %v", bob, w.bobRows)
	}

	if again := replay(); again.Erased != 0 || again.ByIdentifier != 0 || len(again.Counts) != 0 || again.Entries != 2 {
		t.Errorf("a second replay: %+v; want nothing changed", again)
	}
}
