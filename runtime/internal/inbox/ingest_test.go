package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var ctx = context.Background()

func TestIngestCreatesContinuesAndDedupes(t *testing.T) {
	st := storetest.NewDB(t)
	svc := New(st, live.New(st.Pool, slog.New(slog.DiscardHandler)))
	in := Inbound{Channel: "api", Identifier: "+15550100", ContactName: "Ada", ExternalID: "ext-1", Body: "hello"}
	r1, err := svc.Ingest(ctx, in)
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

	dup, err := svc.Ingest(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !dup.Duplicate || dup.Message.ID != r1.Message.ID {
		t.Fatalf("retry was not deduplicated: %+v", dup)
	}

	in.ExternalID, in.Body = "ext-2", "are you there?"
	r2, err := svc.Ingest(ctx, in)
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
	if _, err := st.UpdateConversation(ctx, nil, r1.Conversation.ID, nil, store.ConversationChange{Status: &resolved}); err != nil {
		t.Fatal(err)
	}
	in.ExternalID = "ext-3"
	r3, err := svc.Ingest(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !r3.NewConv || r3.NewContact {
		t.Fatalf("after resolve: %+v", r3)
	}
}

func TestConcurrentIngestOfOneNewContact(t *testing.T) {
	st := storetest.NewDB(t)
	svc := New(st, live.New(st.Pool, slog.New(slog.DiscardHandler)))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := svc.Ingest(ctx, Inbound{Channel: "api", Identifier: "race@x.example", ExternalID: fmt.Sprintf("r-%d", i%8), Body: "hi"})
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

// TestIngestKnownContactInOneStatement covers store.RecordIncoming, the
// one-statement path a known contact's message into their unresolved
// conversation takes: it must record all the general path does (the bump
// that wakes a snoozed conversation, the usage event, the audit entry, the
// live event) and leave everything else to it.
func TestIngestKnownContactInOneStatement(t *testing.T) {
	st := storetest.NewDB(t)
	hub := live.New(st.Pool, slog.New(slog.DiscardHandler))
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	go hub.Run(hctx)
	events, unsubscribe := hub.Subscribe()
	defer unsubscribe()
	svc := New(st, hub)

	in := Inbound{Channel: "telnyx/sms", Identifier: "+15550111", ContactName: "Ada", ExternalID: "m-1", Body: "first"}
	waitEvent := func(want int64) live.Event {
		t.Helper()
		for {
			select {
			case e := <-events:
				if e.MessageID == want {
					return e
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no live event for message %d", want)
			}
		}
	}
	// The general path: a new contact and conversation.
	first, err := svc.Ingest(ctx, in)
	if err != nil || !first.NewContact || !first.NewConv {
		t.Fatalf("first message: %+v, %v", first, err)
	}
	snoozed, until := "snoozed", time.Now().Add(time.Hour)
	if _, err := st.UpdateConversation(ctx, nil, first.Conversation.ID, nil, store.ConversationChange{Status: &snoozed, SnoozedUntil: &until}); err != nil {
		t.Fatal(err)
	}

	// Wait until the hub listens, which it starts doing in the background:
	// a probe's live event arrives.
	heard := func(i int) bool {
		r, err := svc.Ingest(ctx, Inbound{Channel: "other", Identifier: "probe", ExternalID: fmt.Sprintf("p-%d", i), Body: "probe"})
		if err != nil {
			t.Fatal(err)
		}
		timeout := time.After(200 * time.Millisecond)
		for {
			select {
			case e := <-events:
				if e.MessageID == r.Message.ID {
					return true
				}
			case <-timeout:
				return false
			}
		}
	}
	for i := 0; !heard(i); i++ {
		if i == 50 {
			t.Fatal("the live hub never listened")
		}
	}

	in.ExternalID, in.Body = "m-2", "second, into the snoozed conversation"
	r, err := svc.Ingest(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if r.Duplicate || r.NewConv || r.NewContact || r.Conversation.ID != first.Conversation.ID || r.Message.ExternalID == nil || *r.Message.ExternalID != "m-2" {
		t.Fatalf("second message: %+v", r)
	}
	e := waitEvent(r.Message.ID)
	if e.Type != "message.created" || e.ConversationID != first.Conversation.ID {
		t.Errorf("live event = %+v", e)
	}
	want, err := st.ConversationByID(ctx, nil, first.Conversation.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Conversation, want) {
		t.Errorf("conversation returned\n %+v\nwant what ConversationByID gives\n %+v", r.Conversation, want)
	}
	if want.Status != "open" || want.SnoozedUntil != nil || !want.LastMessageAt.Equal(r.Message.CreatedAt) || want.Preview != in.Body {
		t.Errorf("the incoming message did not wake and bump the conversation: %+v", want)
	}
	var audits, usage int
	if err := st.Pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM audit_log WHERE actor_kind = 'system' AND action = 'message.received' AND object_type = 'message' AND object_id = $4),
		(SELECT count(*) FROM usage_events WHERE kind = 'message_received' AND message_id = $1 AND conversation_id = $2 AND contact_id = $3 AND channel = 'telnyx/sms')`,
		r.Message.ID, first.Conversation.ID, first.Conversation.ContactID, strconv.FormatInt(r.Message.ID, 10)).Scan(&audits, &usage); err != nil {
		t.Fatal(err)
	}
	if audits != 1 || usage != 1 {
		t.Errorf("audit entries = %d, usage events = %d; want 1 and 1", audits, usage)
	}

	// A retry: the original, nothing recorded twice, no event.
	dup, err := svc.Ingest(ctx, in)
	if err != nil || !dup.Duplicate || dup.Message.ID != r.Message.ID {
		t.Fatalf("retry = %+v, %v", dup, err)
	}
	var messages int
	st.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM messages WHERE channel = 'telnyx/sms'),
		(SELECT count(*) FROM audit_log a JOIN messages m ON a.object_id = m.id::text WHERE a.action = 'message.received' AND m.channel = 'telnyx/sms'),
		(SELECT count(*) FROM usage_events WHERE kind = 'message_received' AND channel = 'telnyx/sms')`).Scan(&messages, &audits, &usage)
	if messages != 2 || audits != 2 || usage != 2 {
		t.Errorf("after a retry: messages = %d, audit entries = %d, usage events = %d; want 2 each", messages, audits, usage)
	}

	// That was the one-statement path: it stores the next one itself.
	m, conv, isDup, err := st.RecordIncoming(ctx, store.Incoming{Channel: "telnyx/sms", Identifier: "+15550111", ExternalID: "m-2b", Body: "third"})
	if err != nil || isDup || conv.ID != first.Conversation.ID || m.ConversationID != conv.ID || m.Direction != "incoming" || m.Body != "third" {
		t.Fatalf("RecordIncoming = %+v, %+v, %v, %v", m, conv, isDup, err)
	}
	// And a retry, which it answers with the original as ConversationByID
	// gives its conversation.
	again, againConv, isDup, err := st.RecordIncoming(ctx, store.Incoming{Channel: "telnyx/sms", Identifier: "+15550111", ExternalID: "m-2b", Body: "third"})
	if err != nil || !isDup || !reflect.DeepEqual(again, m) {
		t.Errorf("RecordIncoming of a stored message id = %+v, %v, %v; want the original %+v as a duplicate", again, isDup, err, m)
	}
	if want, _ := st.ConversationByID(ctx, nil, conv.ID); !reflect.DeepEqual(againConv, want) {
		t.Errorf("a duplicate's conversation\n %+v\nwant\n %+v", againConv, want)
	}

	// The same message id on another channel is another message.
	other, err := svc.Ingest(ctx, Inbound{Channel: "telnyx/other", Identifier: "+15550111", ExternalID: "m-2", Body: "hi"})
	if err != nil || other.Duplicate {
		t.Fatalf("same id, other channel: %+v, %v", other, err)
	}

	// Resolved: the one-statement path stores nothing and the general path
	// opens a new conversation.
	resolved := "resolved"
	if _, err := st.UpdateConversation(ctx, nil, first.Conversation.ID, nil, store.ConversationChange{Status: &resolved}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := st.RecordIncoming(ctx, store.Incoming{Channel: "telnyx/sms", Identifier: "+15550111", ExternalID: "m-3", Body: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordIncoming into a resolved conversation: %v, want ErrNotFound", err)
	}
	// A retry of a message of the resolved conversation is still a retry.
	if again, _, isDup, err := st.RecordIncoming(ctx, store.Incoming{Channel: "telnyx/sms", Identifier: "+15550111", ExternalID: "m-2b", Body: "third"}); err != nil || !isDup || again.ID != m.ID {
		t.Errorf("a retry after the conversation was resolved: %+v, %v, %v; want the original", again, isDup, err)
	}
	in.ExternalID = "m-3"
	r3, err := svc.Ingest(ctx, in)
	if err != nil || !r3.NewConv || r3.NewContact || r3.Conversation.ID == first.Conversation.ID {
		t.Fatalf("after resolve: %+v, %v", r3, err)
	}
	// Unknown contact: nothing stored.
	if _, _, _, err := st.RecordIncoming(ctx, store.Incoming{Channel: "telnyx/sms", Identifier: "+15550999", ExternalID: "m-4", Body: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordIncoming from an unknown contact: %v, want ErrNotFound", err)
	}
	st.Pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE external_id = 'm-4'`).Scan(&messages)
	if messages != 0 {
		t.Error("RecordIncoming stored a message of an unknown contact")
	}
}

// TestConcurrentRetriesOfKnownContact delivers each of 40 messages of one
// known contact 3 times at once: one message each, one audit entry and one
// usage event each, whichever path each delivery took.
func TestConcurrentRetriesOfKnownContact(t *testing.T) {
	st := storetest.NewDB(t)
	svc := New(st, live.New(st.Pool, slog.New(slog.DiscardHandler)))
	if _, err := svc.Ingest(ctx, Inbound{Channel: "telnyx/sms", Identifier: "+15550123", ExternalID: "seed", Body: "hello"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]map[int64]bool{}
	errs := make(chan error, 120)
	for i := 0; i < 120; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ext := fmt.Sprintf("c-%d", i%40)
			r, err := svc.Ingest(ctx, Inbound{Channel: "telnyx/sms", Identifier: "+15550123", ExternalID: ext, Body: "message " + ext})
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			if ids[ext] == nil {
				ids[ext] = map[int64]bool{}
			}
			ids[ext][r.Message.ID] = true
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for ext, got := range ids {
		if len(got) != 1 {
			t.Errorf("deliveries of %s got message ids %v, want one", ext, got)
		}
	}
	var messages, audits, usage, convs int
	st.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM audit_log WHERE action = 'message.received'),
		(SELECT count(*) FROM usage_events WHERE kind = 'message_received'), (SELECT count(*) FROM conversations)`).Scan(&messages, &audits, &usage, &convs)
	if messages != 41 || audits != 41 || usage != 41 || convs != 1 {
		t.Errorf("messages, audit entries, usage events, conversations = %d, %d, %d, %d; want 41, 41, 41, 1", messages, audits, usage, convs)
	}
}
