package inbox

import (
	"context"
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

// TestIngestInOneStatement covers store.RecordIncoming, the one statement
// most messages take: it must record all the general path did (the
// contact, the conversation, the bump that wakes a snoozed conversation,
// the usage event, the audit entry) and answer a retry with the original.
func TestIngestInOneStatement(t *testing.T) {
	st := storetest.NewDB(t)
	hub := live.New(st.Pool, slog.New(slog.DiscardHandler))
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	go hub.Run(hctx)
	events, unsubscribe := hub.Subscribe()
	defer unsubscribe()
	svc := New(st, hub)
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
	// recorded checks what an ingest returned and recorded.
	recorded := func(r *IngestResult) {
		t.Helper()
		want, err := st.ConversationByID(ctx, nil, r.Conversation.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r.Conversation, want) {
			t.Errorf("conversation returned\n %+v\nwant what ConversationByID gives\n %+v", r.Conversation, want)
		}
		msgs, _ := st.Messages(ctx, r.Conversation.ID)
		if last := msgs[len(msgs)-1]; last.ID != r.Message.ID || !reflect.DeepEqual(last, r.Message) {
			t.Errorf("message returned %+v, stored %+v", r.Message, last)
		}
		if want.Status != "open" || want.SnoozedUntil != nil || !want.LastMessageAt.Equal(r.Message.CreatedAt) || want.Preview != r.Message.Body {
			t.Errorf("the conversation is not open with the message as its latest: %+v", want)
		}
		var audits, usage int
		if err := st.Pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM audit_log WHERE actor_kind = 'system' AND action = 'message.received' AND object_type = 'message' AND object_id = $4),
			(SELECT count(*) FROM usage_events WHERE kind = 'message_received' AND message_id = $1 AND conversation_id = $2 AND contact_id = $3 AND channel = 'telnyx/sms')`,
			r.Message.ID, r.Conversation.ID, r.Conversation.ContactID, strconv.FormatInt(r.Message.ID, 10)).Scan(&audits, &usage); err != nil {
			t.Fatal(err)
		}
		if audits != 1 || usage != 1 {
			t.Errorf("audit entries = %d, usage events = %d; want 1 and 1", audits, usage)
		}
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

	// A new contact: contact, identity, conversation and message at once.
	in := Inbound{Channel: "telnyx/sms", Identifier: "+15550111", ContactName: "Ada", ExternalID: "m-1", Body: "first", Subject: "Order"}
	first, err := svc.Ingest(ctx, in)
	if err != nil || !first.NewContact || !first.NewConv || first.Duplicate || first.Conversation.ContactName != "Ada" || first.Conversation.Subject != "Order" {
		t.Fatalf("first message: %+v, %v", first, err)
	}
	recorded(first)
	waitEvent(first.Message.ID)
	c, _ := st.ContactByID(ctx, nil, first.Conversation.ContactID)
	if c.Name != "Ada" || len(c.Phones) != 1 || c.Phones[0] != "+15550111" {
		t.Errorf("contact created: %+v", c)
	}

	// The contact's next message, into their snoozed conversation, wakes it.
	snoozed, until := "snoozed", time.Now().Add(time.Hour)
	if _, err := st.UpdateConversation(ctx, nil, first.Conversation.ID, nil, store.ConversationChange{Status: &snoozed, SnoozedUntil: &until}); err != nil {
		t.Fatal(err)
	}
	in.ExternalID, in.Body = "m-2", "second, into the snoozed conversation"
	r, err := svc.Ingest(ctx, in)
	if err != nil || r.Duplicate || r.NewConv || r.NewContact || r.Conversation.ID != first.Conversation.ID || r.Message.ExternalID == nil || *r.Message.ExternalID != "m-2" {
		t.Fatalf("second message: %+v, %v", r, err)
	}
	recorded(r)
	if e := waitEvent(r.Message.ID); e.Type != "message.created" || e.ConversationID != first.Conversation.ID {
		t.Errorf("live event = %+v", e)
	}

	// A retry: the original and its conversation as they are, nothing
	// recorded twice, no event.
	dup, err := svc.Ingest(ctx, in)
	if err != nil || !dup.Duplicate || !reflect.DeepEqual(dup.Message, r.Message) {
		t.Fatalf("retry = %+v, %v; want the original %+v", dup, err, r.Message)
	}
	if want, _ := st.ConversationByID(ctx, nil, r.Conversation.ID); !reflect.DeepEqual(dup.Conversation, want) {
		t.Errorf("a duplicate's conversation\n %+v\nwant\n %+v", dup.Conversation, want)
	}
	var messages, audits, usage int
	st.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM messages WHERE channel = 'telnyx/sms'),
		(SELECT count(*) FROM audit_log a JOIN messages m ON a.object_id = m.id::text WHERE a.action = 'message.received' AND m.channel = 'telnyx/sms'),
		(SELECT count(*) FROM usage_events WHERE kind = 'message_received' AND channel = 'telnyx/sms')`).Scan(&messages, &audits, &usage)
	if messages != 2 || audits != 2 || usage != 2 {
		t.Errorf("after a retry: messages = %d, audit entries = %d, usage events = %d; want 2 each", messages, audits, usage)
	}
	select {
	case e := <-events:
		t.Errorf("a retry was announced: %+v", e)
	case <-time.After(200 * time.Millisecond):
	}

	// The same message id on another channel is another message (and the
	// number another contact: identities are per channel).
	other, err := svc.Ingest(ctx, Inbound{Channel: "telnyx/other", Identifier: "+15550111", ExternalID: "m-2", Body: "hi"})
	if err != nil || other.Duplicate || !other.NewConv || !other.NewContact {
		t.Fatalf("same id, other channel: %+v, %v", other, err)
	}

	// Resolved: a retry is still a retry, and the next message opens a new
	// conversation.
	resolved := "resolved"
	if _, err := st.UpdateConversation(ctx, nil, first.Conversation.ID, nil, store.ConversationChange{Status: &resolved}); err != nil {
		t.Fatal(err)
	}
	if again, err := svc.Ingest(ctx, in); err != nil || !again.Duplicate || again.Message.ID != r.Message.ID || again.Conversation.Status != "resolved" {
		t.Errorf("a retry after the conversation was resolved: %+v, %v; want the original", again, err)
	}
	in.ExternalID = "m-3"
	r3, err := svc.Ingest(ctx, in)
	if err != nil || !r3.NewConv || r3.NewContact || r3.Conversation.ID == first.Conversation.ID || r3.Conversation.ContactID != first.Conversation.ContactID {
		t.Fatalf("after resolve: %+v, %v", r3, err)
	}
	recorded(r3)
	var convs int
	st.Pool.QueryRow(ctx, `SELECT count(*) FROM conversations WHERE contact_id = $1`, first.Conversation.ContactID).Scan(&convs)
	if convs != 2 {
		t.Errorf("conversations of the contact = %d, want 2", convs)
	}
}

// TestConcurrentRetries delivers each of 40 messages from 10 phones, one
// known and nine new, 3 times at once: one contact and one conversation per
// phone, and one message, audit entry and usage event per message id.
func TestConcurrentRetries(t *testing.T) {
	st := storetest.NewDB(t)
	svc := New(st, live.New(st.Pool, slog.New(slog.DiscardHandler)))
	if _, err := svc.Ingest(ctx, Inbound{Channel: "telnyx/sms", Identifier: "+15550120", ExternalID: "seed", Body: "hello"}); err != nil {
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
			r, err := svc.Ingest(ctx, Inbound{Channel: "telnyx/sms", Identifier: fmt.Sprintf("+1555012%d", i%10), ExternalID: ext, Body: "message " + ext})
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
	var messages, audits, usage, convs, contacts int
	st.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM audit_log WHERE action = 'message.received'),
		(SELECT count(*) FROM usage_events WHERE kind = 'message_received'), (SELECT count(*) FROM conversations), (SELECT count(*) FROM contacts)`).
		Scan(&messages, &audits, &usage, &convs, &contacts)
	if messages != 41 || audits != 41 || usage != 41 || convs != 10 || contacts != 10 {
		t.Errorf("messages, audit entries, usage events, conversations, contacts = %d, %d, %d, %d, %d; want 41, 41, 41, 10, 10",
			messages, audits, usage, convs, contacts)
	}
}
