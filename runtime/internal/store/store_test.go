package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var ctx = context.Background()

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

func TestIngestCreatesContinuesAndDedupes(t *testing.T) {
	st := storetest.NewDB(t)
	in := store.Inbound{Channel: "api", Identifier: "+15550100", ContactName: "Ada", ExternalID: "ext-1", Body: "hello"}
	r1, err := st.Ingest(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !r1.NewContact || !r1.NewConv || r1.Duplicate || r1.Conversation.ContactName != "Ada" {
		t.Fatalf("first ingest = %+v", r1)
	}
	c, _ := st.ContactByID(ctx, nil, r1.Conversation.ContactID)
	if len(c.Phones) != 1 || c.Phones[0] != "+15550100" {
		t.Errorf("phone not recorded: %+v", c)
	}

	dup, err := st.Ingest(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !dup.Duplicate || dup.Message.ID != r1.Message.ID {
		t.Fatalf("retry was not deduplicated: %+v", dup)
	}

	in.ExternalID, in.Body = "ext-2", "are you there?"
	r2, err := st.Ingest(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if r2.NewConv || r2.Conversation.ID != r1.Conversation.ID {
		t.Fatal("a second message must continue the open conversation")
	}
	msgs, _ := st.Messages(ctx, r1.Conversation.ID)
	if len(msgs) != 2 {
		t.Fatalf("messages = %d, want 2", len(msgs))
	}

	// Resolved: the next message opens a new conversation.
	resolved := "resolved"
	if _, err := st.UpdateConversation(ctx, r1.Conversation.ID, nil, store.ConversationChange{Status: &resolved}); err != nil {
		t.Fatal(err)
	}
	in.ExternalID = "ext-3"
	r3, err := st.Ingest(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !r3.NewConv || r3.NewContact {
		t.Fatalf("after resolve: %+v", r3)
	}
}

func TestConcurrentIngestOfOneNewContact(t *testing.T) {
	st := storetest.NewDB(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := st.Ingest(ctx, store.Inbound{Channel: "api", Identifier: "race@x.example", ExternalID: fmt.Sprintf("r-%d", i%8), Body: "hi"})
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var contacts, messages int
	st.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM messages)`).Scan(&contacts, &messages)
	if contacts != 1 || messages != 8 {
		t.Fatalf("contacts = %d, messages = %d; want 1 and 8", contacts, messages)
	}
}

func TestViewsSearchAndTimeline(t *testing.T) {
	st := storetest.NewDB(t)
	u, err := st.CreateUser(ctx, st.Pool, &store.User{Email: "Agent@X.example", Name: "Agent", Role: "agent", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, _ := st.CreateTeam(ctx, "Support")
	var convs []int64
	for i, body := range []string{"refund for order 1234", "shipping question", "refund again please"} {
		r, err := st.Ingest(ctx, store.Inbound{Channel: "api", Identifier: fmt.Sprintf("c%d@x.example", i), ExternalID: fmt.Sprint(i), Body: body})
		if err != nil {
			t.Fatal(err)
		}
		convs = append(convs, r.Conversation.ID)
	}
	uid := &u.ID
	tid := &team.ID
	pending := "pending"
	if _, err := st.UpdateConversation(ctx, convs[0], uid, store.ConversationChange{AssigneeID: &uid, TeamID: &tid, AddTags: []string{"billing", "vip"}, Status: &pending}); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(-time.Second)
	snoozed := "snoozed"
	if _, err := st.UpdateConversation(ctx, convs[1], uid, store.ConversationChange{Status: &snoozed, SnoozedUntil: &until}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateConversation(ctx, convs[1], uid, store.ConversationChange{Status: &snoozed}); err != nil {
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
	if _, err := st.UpdateConversation(ctx, convs[2], uid, store.ConversationChange{Status: &snoozed}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("snoozing without a time: %v", err)
	}
	bad := int64(999999)
	pbad := &bad
	if _, err := st.UpdateConversation(ctx, convs[2], uid, store.ConversationChange{AssigneeID: &pbad}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("assigning to nobody: %v", err)
	}
}

func TestDeliveryHistory(t *testing.T) {
	st := storetest.NewDB(t)
	r, _ := st.Ingest(ctx, store.Inbound{Channel: "api", Identifier: "d@x.example", Body: "hi"})
	queued := "queued"
	m, err := st.InsertMessage(ctx, st.Pool, &store.Message{ConversationID: r.Conversation.ID, Channel: "api", Direction: "outgoing", Body: "hello", DeliveryStatus: &queued})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"sent", "delivered", "read"} {
		if err := st.RecordDelivery(ctx, m.ID, s, ""); err != nil {
			t.Fatal(err)
		}
	}
	ev, _ := st.DeliveryEvents(ctx, m.ID)
	if len(ev) != 4 || ev[3].Status != "read" {
		t.Fatalf("events = %+v", ev)
	}
	if err := st.RecordDelivery(ctx, r.Message.ID, "sent", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("incoming messages have no delivery status: %v", err)
	}
}
