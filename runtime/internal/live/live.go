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
	Type           string `json:"type"` // message.created, message.updated, conversation.updated
	ConversationID int64  `json:"conversationId,omitempty"`
	MessageID      int64  `json:"messageId,omitempty"`
}

// Hub delivers events to subscribers of this process.
type Hub struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu   sync.Mutex
	subs map[chan Event]struct{}
}

// New returns a Hub over the pool.
func New(pool *pgxpool.Pool, log *slog.Logger) *Hub {
	return &Hub{pool: pool, log: log, subs: map[chan Event]struct{}{}}
}

// Publish announces an event to every replica.
func (h *Hub) Publish(ctx context.Context, e Event) {
	b, _ := json.Marshal(e)
	if _, err := h.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, string(b)); err != nil {
		h.log.Warn("publishing a live event failed", "error", err.Error())
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
