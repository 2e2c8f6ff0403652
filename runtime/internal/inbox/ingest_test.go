package inbox

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

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
