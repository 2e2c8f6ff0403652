package live_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestPublishConcurrently publishes from many goroutines at once, which
// batches events into shared NOTIFYs: each event reaches a subscriber of
// another hub (another replica) once, and each of one publisher's events
// in order.
func TestPublishConcurrently(t *testing.T) {
	st := storetest.NewDB(t)
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub, sub := live.New(st.Pool, log), live.New(st.Pool, log)
	go sub.Run(ctx)
	events, stop := sub.Subscribe()
	defer stop()

	// The listener starts in the background: publish until it hears.
	for heard := false; !heard; {
		pub.Publish(ctx, live.Event{Type: "probe"})
		select {
		case <-events:
			heard = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	for len(events) > 0 {
		<-events
	}

	const publishers, each = 16, 4 // 64 events: the subscriber's buffer holds them all
	var wg sync.WaitGroup
	for p := 1; p <= publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= each; i++ {
				pub.Publish(ctx, live.Event{Type: "message.created", ConversationID: int64(p), MessageID: int64(i)})
			}
		}()
	}
	wg.Wait()
	last := map[int64]int64{}
	for n := 0; n < publishers*each; n++ {
		select {
		case e := <-events:
			if e.Type == "probe" {
				n--
				continue
			}
			if e.MessageID != last[e.ConversationID]+1 {
				t.Fatalf("publisher %d: event %d after %d", e.ConversationID, e.MessageID, last[e.ConversationID])
			}
			last[e.ConversationID] = e.MessageID
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d events arrived", n, publishers*each)
		}
	}
	select {
	case e := <-events:
		if e.Type != "probe" {
			t.Errorf("an event arrived twice or unasked: %+v", e)
		}
	case <-time.After(200 * time.Millisecond):
	}

	// A caller that gives up does not wait for the database.
	done, stopCtx := context.WithCancel(ctx)
	stopCtx()
	start := time.Now()
	pub.Publish(done, live.Event{Type: "late"})
	if d := time.Since(start); d > time.Second {
		t.Errorf("Publish with an ended context took %s", d)
	}
}
