// Package live fans out changes to browsers over Server-Sent Events. Changes
// travel through PostgreSQL NOTIFY, so every replica of the runtime sees
// every change, whichever replica made it.
package live

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

const channel = "switchboard_live"

// Event is one change. It carries ids only; browsers fetch what they show.
type Event struct {
	Type           string `json:"type"` // message.created, message.updated, conversation.updated, notifications.changed
	ConversationID int64  `json:"conversationId,omitempty"`
	MessageID      int64  `json:"messageId,omitempty"`
	// UserID makes the event one member's own (notifications.changed): it
	// goes to their pages only, and tells no one else anything.
	UserID int64 `json:"userId,omitempty"`
}

// Hub delivers events to subscribers of this process.
type Hub struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu   sync.Mutex
	subs map[chan Event]struct{}

	// Events published while a NOTIFY is on its way wait here and go
	// together in the next one (see Publish).
	pubMu    sync.Mutex
	pending  []published
	flushing bool
}

// published is an event waiting to be sent, and the channel closed once
// it was.
type published struct {
	payload string
	sent    chan struct{}
}

// New returns a Hub over the pool.
func New(pool *pgxpool.Pool, log *slog.Logger) *Hub {
	return &Hub{pool: pool, log: log, subs: map[chan Event]struct{}{}}
}

// publishTimeout bounds one NOTIFY, which carries other callers' events too.
const publishTimeout = 5 * time.Second

// Publish announces an event to every replica, and returns once it is sent
// or ctx ends. Events published while a NOTIFY is under way go together in
// the next one, in one statement: under load, many events cost one round
// trip to the database, not one each. (PostgreSQL folds identical events
// of one transaction into one, which costs a browser nothing.)
func (h *Hub) Publish(ctx context.Context, e Event) {
	b, _ := json.Marshal(e)
	p := published{payload: string(b), sent: make(chan struct{})}
	h.pubMu.Lock()
	h.pending = append(h.pending, p)
	if !h.flushing {
		h.flushing = true
		go h.flush()
	}
	h.pubMu.Unlock()
	select {
	case <-p.sent:
	case <-ctx.Done():
	}
}

// flush sends the pending events, a batch at a time, until none are left.
func (h *Hub) flush() {
	for {
		h.pubMu.Lock()
		batch := h.pending
		h.pending = nil
		if len(batch) == 0 {
			h.flushing = false
			h.pubMu.Unlock()
			return
		}
		h.pubMu.Unlock()
		payloads := make([]string, len(batch))
		for i, p := range batch {
			payloads[i] = p.payload
		}
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		// unnest yields the payloads in order, so they are sent in order.
		if _, err := h.pool.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, channel, payloads); err != nil {
			h.log.Warn("publishing live events failed", "events", len(batch), "error", err.Error())
		}
		cancel()
		for _, p := range batch {
			close(p.sent)
		}
	}
}

// Subscribe returns a channel of events and a function to stop.
func (h *Hub) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 64)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
		h.mu.Unlock()
	}
}

// Subscribers counts this process's subscribers.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *Hub) fanOut(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default: // a slow browser misses an event and catches up on its next fetch
		}
	}
}

// Run listens for events until ctx ends, reconnecting after failures.
func (h *Hub) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := h.listen(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("live event listener failed; reconnecting", "error", err.Error())
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (h *Hub) listen(ctx context.Context) error {
	conn, err := h.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	defer func() {
		// Leave the pooled connection clean.
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = conn.Exec(c, "UNLISTEN "+channel)
	}()
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var e Event
		if json.Unmarshal([]byte(n.Payload), &e) == nil {
			h.fanOut(e)
		}
	}
}
