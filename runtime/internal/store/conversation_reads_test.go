package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

// TestUnreadPerMember: a conversation is unread for each member until they
// open it, read once opened, and unread again after a new incoming message
// (not after a reply or a note); one member's reading is not another's.
func TestUnreadPerMember(t *testing.T) {
	st := storetest.NewDB(t)
	alex, _ := st.CreateUser(ctx, st.Pool, &store.User{Email: "alex@x.example", Name: "Alex Doe", Role: "agent", PasswordHash: "x"})
	sam, _ := st.CreateUser(ctx, st.Pool, &store.User{Email: "sam@x.example", Name: "Sam", Role: "agent", PasswordHash: "x"})
	res, err := ingest(st, inbox.Inbound{Channel: "api", Identifier: "+1555", ContactName: "Ada", ExternalID: "u1", Body: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	conv := res.Conversation.ID
	unread := func(who *store.User) bool {
		t.Helper()
		list, err := st.Conversations(ctx, store.View{Reader: who.ID})
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %d", err, len(list))
		}
		return list[0].Unread
	}
	if !unread(alex) || !unread(sam) {
		t.Fatal("a new conversation is not unread")
	}
	if err := st.MarkRead(ctx, alex.ID, conv); err != nil {
		t.Fatal(err)
	}
	if unread(alex) || !unread(sam) {
		t.Fatalf("after Alex opened it: alex unread %v, sam unread %v", unread(alex), unread(sam))
	}
	if _, err := st.InsertMessage(ctx, st.Pool, &store.Message{ConversationID: conv, Channel: "api", Direction: "outgoing", AuthorID: &alex.ID, Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	if unread(alex) {
		t.Fatal("a reply made it unread")
	}
	if _, err := ingest(st, inbox.Inbound{Channel: "api", Identifier: "+1555", ContactName: "Ada", ExternalID: "u2", Body: "again"}); err != nil {
		t.Fatal(err)
	}
	if !unread(alex) {
		t.Fatal("a new incoming message left it read")
	}
	if err := st.MarkRead(ctx, alex.ID, conv); err != nil || unread(alex) {
		t.Fatalf("opened again: %v, unread %v", err, unread(alex))
	}
	if err := st.MarkRead(ctx, alex.ID, 999999); err == nil {
		t.Fatal("marking a missing conversation read worked")
	}
	// The list names the assignee.
	p := &alex.ID
	if _, err := st.UpdateConversation(ctx, nil, conv, &sam.ID, store.ConversationChange{AssigneeID: &p}); err != nil {
		t.Fatal(err)
	}
	list, _ := st.Conversations(ctx, store.View{Reader: sam.ID})
	if list[0].AssigneeName != "Alex Doe" {
		t.Fatalf("assignee name %q", list[0].AssigneeName)
	}
}

// TestCountViews counts open conversations per view and each status but
// resolved per view, for the member asking.
func TestCountViews(t *testing.T) {
	st := storetest.NewDB(t)
	me, _ := st.CreateUser(ctx, st.Pool, &store.User{Email: "me@x.example", Name: "Me", Role: "agent", PasswordHash: "x"})
	other, _ := st.CreateUser(ctx, st.Pool, &store.User{Email: "o@x.example", Name: "Other", Role: "agent", PasswordHash: "x"})
	var ids []int64
	for i := 0; i < 7; i++ {
		res, err := ingest(st, inbox.Inbound{Channel: "api", Identifier: "+1555" + string(rune('0'+i)), ContactName: "C", ExternalID: "c" + string(rune('0'+i)), Body: "x"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Conversation.ID)
	}
	set := func(id int64, ch store.ConversationChange) {
		t.Helper()
		if _, err := st.UpdateConversation(ctx, nil, id, nil, ch); err != nil {
			t.Fatal(err)
		}
	}
	str := func(s string) *string { return &s }
	who := func(id int64) **int64 { p := &id; return &p }
	later := time.Now().Add(time.Hour)
	set(ids[0], store.ConversationChange{AssigneeID: who(me.ID)})                         // mine, open
	set(ids[1], store.ConversationChange{AssigneeID: who(me.ID), Status: str("pending")}) // mine, pending
	set(ids[2], store.ConversationChange{AssigneeID: who(other.ID)})                      // other's, open
	set(ids[3], store.ConversationChange{Status: str("resolved")})                        // not counted
	set(ids[4], store.ConversationChange{Status: str("snoozed"), SnoozedUntil: &later})   // unassigned, snoozed
	set(ids[5], store.ConversationChange{Status: str("snoozed"), UntilReply: true})       // unassigned, snoozed until reply
	// ids[6]: unassigned, open
	c, err := st.CountViews(ctx, me.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mine != 1 || c.Unassigned != 1 || c.All != 3 {
		t.Fatalf("open counts: mine %d unassigned %d all %d, want 1 1 3", c.Mine, c.Unassigned, c.All)
	}
	if c.ByStatus["mine"]["pending"] != 1 || c.ByStatus["unassigned"]["snoozed"] != 2 || c.ByStatus["all"]["snoozed"] != 2 || c.ByStatus["all"]["resolved"] != 0 {
		t.Fatalf("by status: %v", c.ByStatus)
	}
}

// TestSnoozeUntilReply: a snooze with no time is not woken by the clock,
// and the customer's next message reopens it; a snooze needs a time or
// UntilReply; snoozing again changes the time.
func TestSnoozeUntilReply(t *testing.T) {
	st := storetest.NewDB(t)
	res, err := ingest(st, inbox.Inbound{Channel: "api", Identifier: "+1666", ContactName: "Bo", ExternalID: "s1", Body: "x"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Conversation.ID
	snoozed := "snoozed"
	if _, err := st.UpdateConversation(ctx, nil, id, nil, store.ConversationChange{Status: &snoozed}); err == nil {
		t.Fatal("a snooze with neither a time nor until-reply was taken")
	}
	c, err := st.UpdateConversation(ctx, nil, id, nil, store.ConversationChange{Status: &snoozed, UntilReply: true})
	if err != nil || c.Status != "snoozed" || c.SnoozedUntil != nil {
		t.Fatalf("snooze until reply: %v %+v", err, c)
	}
	if woken, err := st.WakeSnoozed(ctx); err != nil || len(woken) != 0 {
		t.Fatalf("the clock woke a snooze until reply: %v %v", woken, err)
	}
	at := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	if c, err = st.UpdateConversation(ctx, nil, id, nil, store.ConversationChange{Status: &snoozed, SnoozedUntil: &at}); err != nil || c.SnoozedUntil == nil || !c.SnoozedUntil.Equal(at) {
		t.Fatalf("snoozing again with a time: %v %+v", err, c)
	}
	// A time that has come wakes it, with a timeline event.
	past := time.Now().Add(-time.Minute)
	if _, err := st.UpdateConversation(ctx, nil, id, nil, store.ConversationChange{Status: &snoozed, SnoozedUntil: &past}); err != nil {
		t.Fatal(err)
	}
	if woken, err := st.WakeSnoozed(ctx); err != nil || len(woken) != 1 || woken[0] != id {
		t.Fatalf("woken %v %v, want [%d]", woken, err, id)
	}
	if events, _ := st.Timeline(ctx, id); !strings.Contains(string(events[len(events)-1].Data), `"woke": true`) {
		t.Fatalf("no woke event: %s", events[len(events)-1].Data)
	}
	if _, err := st.UpdateConversation(ctx, nil, id, nil, store.ConversationChange{Status: &snoozed, UntilReply: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ingest(st, inbox.Inbound{Channel: "api", Identifier: "+1666", ContactName: "Bo", ExternalID: "s2", Body: "any news?"}); err != nil {
		t.Fatal(err)
	}
	if c, _ = st.ConversationByID(ctx, nil, id); c.Status != "open" || c.SnoozedUntil != nil {
		t.Fatalf("the reply did not reopen it: %s %v", c.Status, c.SnoozedUntil)
	}
	events, _ := st.Timeline(ctx, id)
	var sawReply bool
	for _, e := range events {
		if e.Kind == "status" && string(e.Data) != "" && strings.Contains(string(e.Data), `"untilReply": true`) {
			sawReply = true
		}
	}
	if !sawReply {
		t.Fatal("the timeline does not say the snooze waits for a reply")
	}
}
