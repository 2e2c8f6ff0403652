package store_test

import (
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

// TestRecordIncomingTogether stores one batch holding a known contact's
// messages, two new contacts' first messages (one of them twice in the
// batch), a retry of a stored message and a second delivery of a message
// in the batch: the batch statements store them all, without a message
// going alone, and record what the single statements would.
func TestRecordIncomingTogether(t *testing.T) {
	st := storetest.NewDB(t)
	const ch = "telnyx/sms"
	first, err := st.RecordIncoming(ctx, store.Incoming{Channel: ch, Identifier: "+15550130", ExternalID: "k-0", Body: "before", ContactName: "Kim"})
	if err != nil || !first.NewContact || !first.NewConv {
		t.Fatalf("first message: %+v, %v", first, err)
	}
	before := st.IncomingStats()
	ins := []store.Incoming{
		{Channel: ch, Identifier: "+15550130", ExternalID: "k-1", Body: "known 1"},
		{Channel: ch, Identifier: "+15550131", ExternalID: "n-1", Body: "new 1", ContactName: "Nia", Subject: "Hello"},
		{Channel: ch, Identifier: "+15550130", ExternalID: "k-0", Body: "before"}, // a retry of a stored message
		{Channel: ch, Identifier: "+15550131", ExternalID: "n-2", Body: "new 2"},
		{Channel: ch, Identifier: "+15550130", ExternalID: "k-1", Body: "known 1"}, // a retry within the batch
		{Channel: ch, Identifier: "ola@example.com", ExternalID: "o-1", Body: "mail"},
		{Channel: ch, Identifier: "+15550130", Body: "no external id"},
	}
	res, errs := st.RecordIncomingTogether(ctx, ins)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	after := st.IncomingStats()
	if after.Failed != before.Failed || after.Alone != before.Alone || after.Batched-before.Batched != int64(len(ins)) {
		t.Errorf("stats before %+v, after %+v: want every message stored by a batch, none alone, no failed statement", before, after)
	}

	known, nia, ola := res[0], res[1], res[5]
	if known.Duplicate || known.NewContact || known.NewConv || known.Conversation.ID != first.Conversation.ID || known.Conversation.ContactName != "Kim" {
		t.Errorf("known contact's message: %+v", known)
	}
	if !nia.NewContact || !nia.NewConv || nia.Duplicate || nia.Conversation.ContactName != "Nia" || nia.Conversation.Subject != "Hello" {
		t.Errorf("new contact's first message: %+v", nia)
	}
	if n2 := res[3]; n2.NewContact || n2.NewConv || n2.Duplicate || n2.Conversation.ID != nia.Conversation.ID || n2.Message.ID <= nia.Message.ID {
		t.Errorf("new contact's second message: %+v (first %+v)", n2, nia)
	}
	if !ola.NewContact || ola.Conversation.ContactName != "ola@example.com" {
		t.Errorf("email contact: %+v", ola)
	}
	if c, _ := st.ContactByID(ctx, nil, ola.Conversation.ContactID); len(c.Emails) != 1 || len(c.Phones) != 0 {
		t.Errorf("email contact's fields: %+v", c)
	}
	if c, _ := st.ContactByID(ctx, nil, nia.Conversation.ContactID); c.Name != "Nia" || len(c.Phones) != 1 || c.Phones[0] != "+15550131" {
		t.Errorf("phone contact's fields: %+v", c)
	}
	if r := res[2]; !r.Duplicate || !reflect.DeepEqual(r.Message, first.Message) {
		t.Errorf("retry of a stored message: %+v, want the original %+v", r, first.Message)
	}
	if r := res[4]; !r.Duplicate || r.Message.ID != known.Message.ID {
		t.Errorf("retry within the batch: %+v, want the original %+v", r, known.Message)
	}
	if r := res[6]; r.Duplicate || r.Conversation.ID != first.Conversation.ID || r.Message.ExternalID != nil {
		t.Errorf("message without an external id: %+v", r)
	}

	// Each stored message is as returned, its conversation bumped to it.
	for i, r := range res {
		msgs, err := st.Messages(ctx, r.Conversation.ID)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range msgs {
			if m.ID == r.Message.ID {
				found = reflect.DeepEqual(m, r.Message)
			}
		}
		if !found {
			t.Errorf("message %d: returned %+v is not stored as such", i, r.Message)
		}
		conv, _ := st.ConversationByID(ctx, nil, r.Conversation.ID)
		if !conv.LastMessageAt.Equal(msgs[len(msgs)-1].CreatedAt) || conv.Status != "open" {
			t.Errorf("message %d: conversation %+v not bumped to its latest message", i, conv)
		}
	}
	var messages, audits, usage, contacts, convs int
	if err := st.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM messages),
		(SELECT count(*) FROM audit_log a JOIN messages m ON a.object_id = m.id::text WHERE a.action = 'message.received'),
		(SELECT count(*) FROM usage_events u JOIN messages m ON m.id = u.message_id JOIN conversations c ON c.id = m.conversation_id
			WHERE u.kind = 'message_received' AND u.conversation_id = c.id AND u.contact_id = c.contact_id AND u.channel = m.channel),
		(SELECT count(*) FROM contacts), (SELECT count(*) FROM conversations)`).Scan(&messages, &audits, &usage, &contacts, &convs); err != nil {
		t.Fatal(err)
	}
	if messages != 6 || audits != 6 || usage != 6 || contacts != 3 || convs != 3 {
		t.Errorf("messages, audit entries, usage events, contacts, conversations = %d, %d, %d, %d, %d; want 6, 6, 6, 3, 3",
			messages, audits, usage, contacts, convs)
	}
}

// TestRecordIncomingBadNeighbour: a message PostgreSQL refuses fails its
// batch's statement; it fails alone, and its neighbours are stored.
func TestRecordIncomingBadNeighbour(t *testing.T) {
	st := storetest.NewDB(t)
	ins := make([]store.Incoming, 8)
	for i := range ins {
		ins[i] = store.Incoming{Channel: "api", Identifier: fmt.Sprintf("+1555014%d", i%3), ExternalID: "b-" + strconv.Itoa(i), Body: "fine"}
	}
	ins[5].Body = "a NUL \x00 byte" // text cannot hold it
	res, errs := st.RecordIncomingTogether(ctx, ins)
	for i, err := range errs {
		if (err != nil) != (i == 5) {
			t.Errorf("message %d: %v", i, err)
		}
		if err == nil && (res[i] == nil || res[i].Message.ID == 0) {
			t.Errorf("message %d: no result", i)
		}
	}
	if s := st.IncomingStats(); s.Failed == 0 {
		t.Errorf("stats %+v: the batch did not fail", s)
	}
	var messages int
	st.Pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&messages)
	if messages != 7 {
		t.Errorf("messages = %d, want 7", messages)
	}
}

// TestRecordIncomingConcurrentBatches delivers 600 messages from 12 phones
// (4 known, 8 new), each twice, from 48 goroutines, with three batches
// stored at once: they lock the same conversations. One contact and one
// conversation per phone, one message, audit entry and usage event per
// message id; no statement fails (a deadlock between batches would).
func TestRecordIncomingConcurrentBatches(t *testing.T) {
	defer store.SetIncomingFlushers(3, 1)()
	st := storetest.NewDB(t)
	const ch, phones, n = "telnyx/sms", 12, 600
	for p := 0; p < 4; p++ {
		if _, err := st.RecordIncoming(ctx, store.Incoming{Channel: ch, Identifier: fmt.Sprintf("+1555015%02d", p), ExternalID: fmt.Sprintf("seed-%d", p), Body: "seed"}); err != nil {
			t.Fatal(err)
		}
	}
	work := make(chan int)
	var mu sync.Mutex
	ids := map[string]map[int64]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 48; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				ext := fmt.Sprintf("c-%d", i/2)
				in := store.Incoming{Channel: ch, Identifier: fmt.Sprintf("+1555015%02d", (i/2)%phones), ExternalID: ext, Body: "message " + ext}
				var r *store.IncomingResult
				var err error
				for attempt := 0; attempt < 4; attempt++ { // as inbox.Ingest does
					if r, err = st.RecordIncoming(ctx, in); err != store.ErrConflict {
						break
					}
				}
				if err != nil {
					t.Error(err)
					continue
				}
				mu.Lock()
				if ids[ext] == nil {
					ids[ext] = map[int64]bool{}
				}
				ids[ext][r.Message.ID] = true
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < 2*n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	for ext, got := range ids {
		if len(got) != 1 {
			t.Errorf("deliveries of %s got message ids %v, want one", ext, got)
		}
	}
	var messages, audits, usage, convs, contacts int
	st.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM audit_log WHERE action = 'message.received'),
		(SELECT count(*) FROM usage_events WHERE kind = 'message_received'), (SELECT count(*) FROM conversations), (SELECT count(*) FROM contacts)`).
		Scan(&messages, &audits, &usage, &convs, &contacts)
	if messages != n+4 || audits != n+4 || usage != n+4 || convs != phones || contacts != phones {
		t.Errorf("messages, audit entries, usage events, conversations, contacts = %d, %d, %d, %d, %d; want %d, %d, %d, %d, %d",
			messages, audits, usage, convs, contacts, n+4, n+4, n+4, phones, phones)
	}
	s := st.IncomingStats()
	if s.Failed != 0 {
		t.Errorf("stats %+v: a batch statement failed", s)
	}
	if s.Statements >= s.Batched {
		t.Errorf("stats %+v: no batch held more than one message", s)
	}
	t.Logf("stats %+v", s)
}
