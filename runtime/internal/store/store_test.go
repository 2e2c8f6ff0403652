package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var ctx = context.Background()

// ingest stores an inbound message as the inbox does: the conversations,
// contacts and messages the store's tests work on arrive that way.
func ingest(st *store.Store, in inbox.Inbound) (*inbox.IngestResult, error) {
	return inbox.New(st, live.New(st.Pool, slog.New(slog.DiscardHandler))).Ingest(ctx, in)
}

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	st, dsn := storetest.NewDBWithDSN(t)
	// Replicas starting together take turns on the advisory lock.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other, err := store.Open(ctx, dsn, 2)
			if err != nil {
				errs <- err
				return
			}
			defer other.Close()
			errs <- other.Migrate(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestViewsSearchAndTimeline(t *testing.T) {
	st := storetest.NewDB(t)
	u, err := st.CreateUser(ctx, st.Pool, &store.User{Email: "Agent@X.example", Name: "Agent", Role: "agent", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, _ := st.CreateTeam(ctx, st.Pool, "Support")
	var convs []int64
	for i, body := range []string{"refund for order 1234", "shipping question", "refund again please"} {
		r, err := ingest(st, inbox.Inbound{Channel: "api", Identifier: fmt.Sprintf("c%d@x.example", i), ExternalID: fmt.Sprint(i), Body: body})
		if err != nil {
			t.Fatal(err)
		}
		convs = append(convs, r.Conversation.ID)
	}
	uid := &u.ID
	tid := &team.ID
	pending := "pending"
	if _, err := st.UpdateConversation(ctx, nil, convs[0], uid, store.ConversationChange{AssigneeID: &uid, TeamID: &tid, AddTags: []string{"billing", "vip"}, Status: &pending}); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(-time.Second)
	snoozed := "snoozed"
	if _, err := st.UpdateConversation(ctx, nil, convs[1], uid, store.ConversationChange{Status: &snoozed, SnoozedUntil: &until}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateConversation(ctx, nil, convs[1], uid, store.ConversationChange{Status: &snoozed}); err != nil {
		t.Fatal(err) // unchanged status: no-op
	}

	tests := []struct {
		name string
		v    store.View
		want []int64
	}{
		{"all", store.View{}, []int64{convs[2], convs[1], convs[0]}},
		{"mine", store.View{AssigneeID: u.ID}, []int64{convs[0]}},
		{"unassigned", store.View{Unassigned: true}, []int64{convs[2], convs[1]}},
		{"team", store.View{TeamID: team.ID}, []int64{convs[0]}},
		{"tag", store.View{Tag: "vip"}, []int64{convs[0]}},
		{"status", store.View{Status: "snoozed"}, []int64{convs[1]}},
		{"channel", store.View{Channel: "email"}, nil},
		{"search", store.View{Search: "refund"}, []int64{convs[2], convs[0]}},
		{"search phrase", store.View{Search: `"order 1234"`}, []int64{convs[0]}},
		{"page", store.View{Limit: 1}, []int64{convs[2]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Conversations(ctx, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, c := range got {
				ids = append(ids, c.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", ids, tt.want)
			}
		})
	}

	tl, _ := st.Timeline(ctx, convs[0])
	var kinds []string
	for _, e := range tl {
		kinds = append(kinds, e.Kind)
	}
	if fmt.Sprint(kinds) != "[status assigned team tags]" {
		t.Errorf("timeline = %v", kinds)
	}
	woke, err := st.WakeSnoozed(ctx)
	if err != nil || len(woke) != 1 || woke[0] != convs[1] {
		t.Errorf("woke %v, %v", woke, err)
	}
	if _, err := st.UpdateConversation(ctx, nil, convs[2], uid, store.ConversationChange{Status: &snoozed}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("snoozing without a time: %v", err)
	}
	bad := int64(999999)
	pbad := &bad
	if _, err := st.UpdateConversation(ctx, nil, convs[2], uid, store.ConversationChange{AssigneeID: &pbad}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("assigning to nobody: %v", err)
	}
}

func TestDeliveryHistory(t *testing.T) {
	st := storetest.NewDB(t)
	r, _ := ingest(st, inbox.Inbound{Channel: "api", Identifier: "d@x.example", Body: "hi"})
	queued := "queued"
	m, err := st.InsertMessage(ctx, st.Pool, &store.Message{ConversationID: r.Conversation.ID, Channel: "api", Direction: "outgoing", Body: "hello", DeliveryStatus: &queued})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"sent", "delivered", "read"} {
		if _, err := st.RecordDelivery(ctx, m.ID, s, ""); err != nil {
			t.Fatal(err)
		}
	}
	ev, _ := st.DeliveryEvents(ctx, m.ID)
	if len(ev) != 4 || ev[3].Status != "read" {
		t.Fatalf("events = %+v", ev)
	}
	if _, err := st.RecordDelivery(ctx, r.Message.ID, "sent", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("incoming messages have no delivery status: %v", err)
	}
}

// TestOutboxAttempts: a claim is fenced by its attempt count, so a claimer
// whose lease ran out while the item waited in its batch cannot start an
// attempt another claimer now holds; an attempt that began and recorded no
// outcome comes back Interrupted, and stays so until one is recorded.
func TestOutboxAttempts(t *testing.T) {
	st := storetest.NewDB(t)
	r, _ := ingest(st, inbox.Inbound{Channel: "api", Identifier: "o@x.example", Body: "hi"})
	queued := "queued"
	m, err := st.InsertMessage(ctx, st.Pool, &store.Message{ConversationID: r.Conversation.ID, Channel: "api", Direction: "outgoing", Body: "hello", DeliveryStatus: &queued})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Enqueue(ctx, nil, "deliver", &m.ID, map[string]any{"messageId": m.ID}); err != nil {
		t.Fatal(err)
	}
	due := func() {
		t.Helper()
		if _, err := st.Pool.Exec(ctx, `UPDATE outbox SET next_attempt_at = now()`); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(wantInterrupted bool) *store.OutboxItem {
		t.Helper()
		items, err := st.ClaimDue(ctx, 10, time.Minute)
		if err != nil || len(items) != 1 {
			t.Fatalf("claim: %v %d", err, len(items))
		}
		if items[0].Interrupted != wantInterrupted {
			t.Fatalf("claim %d: interrupted %v, want %v", items[0].Attempts, items[0].Interrupted, wantInterrupted)
		}
		return items[0]
	}
	first := claim(false)
	if again, _ := st.ClaimDue(ctx, 10, time.Minute); len(again) != 0 {
		t.Fatalf("a leased item was claimed twice: %+v", again)
	}
	due() // first's lease runs out before it gets to the item
	second := claim(false)
	if ok, err := st.BeginAttempt(ctx, first, time.Minute); err != nil || ok {
		t.Fatalf("the stale claim began an attempt: %v %v", ok, err)
	}
	if ok, err := st.BeginAttempt(ctx, second, time.Minute); err != nil || !ok {
		t.Fatalf("the current claim could not begin: %v %v", ok, err)
	}
	due() // second's replica dies mid-attempt
	third := claim(true)
	due() // and so does the next claimer, before it decides
	claim(true)
	if _, err := st.FinishDelivery(ctx, third, m.ID, "unconfirmed", "lost"); err != nil {
		t.Fatal(err)
	}
	due()
	if items, _ := st.ClaimDue(ctx, 10, time.Minute); len(items) != 0 {
		t.Fatalf("a finished delivery was claimed: %+v", items)
	}
	if _, err := st.RequeueFailed(ctx, nil, m.ID); err != nil {
		t.Fatalf("an unconfirmed message could not be sent again: %v", err)
	}
	claim(false)
	if _, err := st.RecordDelivery(ctx, m.ID, "sent", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RequeueFailed(ctx, nil, m.ID); !errors.Is(err, store.ErrNotFailed) {
		t.Errorf("a sent message was queued again: %v", err)
	}
}
