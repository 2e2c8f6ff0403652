package store_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

// TestMentionNotifications writes notes through the inbox and checks who is
// notified: each member mentioned once per note however often it names
// them, never its author, viewers too, disabled members and unknown names
// not at all; and that a mentioned member's pages hear of it, on another
// replica, while nobody else's do.
func TestMentionNotifications(t *testing.T) {
	st := storetest.NewDB(t)
	log := slog.New(slog.DiscardHandler)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	other := live.New(st.Pool, log) // another replica's hub
	go other.Run(runCtx)
	svc := inbox.New(st, live.New(st.Pool, log))

	user := func(email, name, role string) int64 {
		u, err := st.CreateUser(ctx, st.Pool, &store.User{Email: email, Name: name, Role: role, PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	alex := user("alex@team.example", "Alex Agent", "agent")
	alexa := user("alexa@team.example", "Alex Admin", "admin")
	vera := user("vera@team.example", "Vera Viewer", "viewer")
	gone := user("gone@team.example", "Gone Member", "agent")
	if _, err := st.Pool.Exec(ctx, `UPDATE users SET disabled_at = now() WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	r, err := ingest(st, inbox.Inbound{Channel: "api", Identifier: "+15550111", ContactName: "Cleo Customer", Body: "help"})
	if err != nil {
		t.Fatal(err)
	}
	conv := r.Conversation.ID

	events, stop := other.Subscribe()
	defer stop()
	// The listener starts in the background: publish until it hears.
	for heard := false; !heard; {
		svc.Live.Publish(ctx, live.Event{Type: "probe"})
		select {
		case <-events:
			heard = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	for len(events) > 0 {
		<-events
	}

	note, err := svc.Note(ctx, alex, conv, "@Alex Admin and @vera viewer: see this. @Alex Admin again, "+
		"@Alex Agent (myself), @Gone Member, @Nobody Known, and mail vera@team.example")
	if err != nil {
		t.Fatal(err)
	}
	told := func(u int64) []*store.Notification {
		t.Helper()
		list, err := st.Notifications(ctx, u, store.NotificationFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	for who, want := range map[int64]int{alexa: 1, vera: 1, alex: 0, gone: 0} {
		if got := told(who); len(got) != want {
			t.Errorf("member %d has %d notifications, want %d", who, len(got), want)
		}
	}
	n := told(alexa)[0]
	if n.Kind != "mention" || n.ConversationID != conv || n.MessageID == nil || *n.MessageID != note.ID ||
		n.ActorID == nil || *n.ActorID != alex || n.ActorName != "Alex Agent" || n.ContactName != "Cleo Customer" ||
		n.ReadAt != nil || n.Excerpt == "" {
		t.Errorf("notification %+v", n)
	}

	// The mentioned members' pages hear of it, by their id; the note itself
	// is an event for everyone.
	var users []int64
	deadline := time.After(5 * time.Second)
	for len(users) < 2 {
		select {
		case e := <-events:
			if e.UserID != 0 {
				if e.Type != "notifications.changed" {
					t.Errorf("event %+v", e)
				}
				users = append(users, e.UserID)
			}
		case <-deadline:
			t.Fatalf("events for %v only", users)
		}
	}
	slices.Sort(users)
	if want := []int64{alexa, vera}; !slices.Equal(users, want) {
		t.Errorf("notification events for %v, want %v", users, want)
	}

	// A note with no mention tells no one; a second mention is a second
	// notification.
	if _, err := svc.Note(ctx, alexa, conv, "no one here, write to alex@team.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Note(ctx, alexa, conv, "@Vera Viewer once more"); err != nil {
		t.Fatal(err)
	}
	if got := len(told(vera)); got != 2 {
		t.Errorf("Vera has %d notifications, want 2", got)
	}
	if got := len(told(alex)); got != 0 {
		t.Errorf("Alex has %d notifications, want 0", got)
	}

	t.Run("reading", func(t *testing.T) {
		if c, _ := st.UnreadNotifications(ctx, vera); c != 2 {
			t.Errorf("unread %d, want 2", c)
		}
		list := told(vera)
		// Another member cannot read or mark Vera's.
		if _, err := st.ReadNotification(ctx, alexa, list[0].ID); err != store.ErrNotFound {
			t.Errorf("reading another's notification: %v", err)
		}
		if n, _ := st.MarkNotificationsRead(ctx, alexa, []int64{list[0].ID, list[1].ID}, false); n != 0 {
			t.Errorf("marked %d of another's", n)
		}
		got, err := st.ReadNotification(ctx, vera, list[1].ID)
		if err != nil || got.ReadAt == nil || got.ConversationID != conv {
			t.Fatalf("ReadNotification: %+v, %v", got, err)
		}
		unread, err := st.Notifications(ctx, vera, store.NotificationFilter{Unread: true})
		if err != nil || len(unread) != 1 || unread[0].ID != list[0].ID {
			t.Errorf("unread after reading one: %v, %v", unread, err)
		}
		if n, _ := st.MarkNotificationsRead(ctx, vera, nil, true); n != 1 {
			t.Errorf("mark all read marked %d, want 1", n)
		}
		if c, _ := st.UnreadNotifications(ctx, vera); c != 0 {
			t.Errorf("unread %d after marking all read", c)
		}
		// Paging: older than the newest.
		older, err := st.Notifications(ctx, vera, store.NotificationFilter{Before: list[0].ID})
		if err != nil || len(older) != 1 || older[0].ID != list[1].ID {
			t.Errorf("page before %d: %v, %v", list[0].ID, older, err)
		}
	})
}
