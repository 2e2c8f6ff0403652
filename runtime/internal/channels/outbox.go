package channels

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Worker delivers queued replies through their channels, retrying with
// backoff, and records each outcome as a delivery event.
type Worker struct {
	Inbox       *inbox.Service
	Log         *slog.Logger
	Interval    time.Duration
	MaxAttempts int
}

// Run delivers until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	if w.Interval == 0 {
		w.Interval = 500 * time.Millisecond
	}
	if w.MaxAttempts == 0 {
		w.MaxAttempts = 8
	}
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		w.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lease is how long a claimed delivery is hidden from other workers; an
// attempt's call to the provider ends well before it (attemptTimeout), so
// no other worker claims an attempt that is still running.
const (
	lease          = time.Minute
	attemptTimeout = 45 * time.Second
)

// RunOnce delivers what is due now.
//
// At most once where the provider cannot deduplicate (inbox.AtMostOnce):
// each attempt is marked in flight before the provider is called and
// cleared with its outcome, so an attempt that a dead replica left in flight
// is not repeated but ends "unconfirmed"; so does a send the channel
// reports as adapter.Unconfirmed (its request may have reached the
// provider). An agent then decides whether to send it again.
func (w *Worker) RunOnce(ctx context.Context) {
	st := w.Inbox.Store
	items, err := st.ClaimDue(ctx, 20, lease)
	if err != nil {
		if ctx.Err() == nil {
			w.Log.Warn("claiming deliveries failed", "error", err.Error())
		}
		return
	}
	for _, it := range items {
		var out inbox.Outbound
		if err := json.Unmarshal(it.Payload, &out); err != nil {
			_ = st.Retry(ctx, it.ID, 0, "malformed payload", true)
			continue
		}
		ch, ok := w.Inbox.Channel(out.Channel)
		_, once := ch.(inbox.AtMostOnce)
		if ok && once && it.Interrupted {
			w.finish(ctx, it, out, "unconfirmed", "an earlier attempt was interrupted after it may have reached the provider: "+
				"check with the customer, or send it again")
			continue
		}
		var derr error
		var providerID string
		if !ok {
			derr = inbox.ErrNoChannel
		} else if begun, err := st.BeginAttempt(ctx, it, lease); err != nil || !begun {
			// Claimed again since (this batch outlived its lease), or the
			// database failed: the item is another worker's, or due again.
			if err != nil && ctx.Err() == nil {
				w.Log.Warn("starting a delivery attempt failed", "message", out.MessageID, "error", err.Error())
			}
			continue
		} else {
			actx, cancel := context.WithTimeout(ctx, attemptTimeout)
			providerID, derr = ch.Deliver(actx, out)
			cancel()
		}
		// What the provider answered is recorded even if the worker is
		// stopping: an outcome not recorded leaves the item in flight, and
		// on an AtMostOnce channel a sent message would end unconfirmed.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		w.record(rctx, it, out, providerID, derr)
		cancel()
	}
}

// record closes attempt it on what Deliver returned.
func (w *Worker) record(ctx context.Context, it *store.OutboxItem, out inbox.Outbound, providerID string, derr error) {
	st := w.Inbox.Store
	if derr == nil {
		// The provider's id first: its status reports may come at once.
		if providerID != "" && out.Channel != "api" {
			if err := st.SetProviderID(ctx, out.MessageID, providerID); err != nil && ctx.Err() == nil {
				w.Log.Warn("recording a provider's message id failed", "message", out.MessageID, "error", err.Error())
			}
		}
		w.finish(ctx, it, out, "sent", "")
		return
	}
	if adapter.IsUnconfirmed(derr) {
		w.Log.Info("delivery unconfirmed", "message", out.MessageID, "attempt", it.Attempts, "error", derr.Error())
		w.finish(ctx, it, out, "unconfirmed", "the connection to the provider broke after the message was sent, "+
			"so it may have arrived: check with the customer, or send it again ("+derr.Error()+")")
		return
	}
	// A permanent refusal (outside the window, a revoked grant) is
	// not retried: the agent sees it at once.
	giveUp := it.Attempts >= w.MaxAttempts || adapter.IsPermanent(derr)
	w.Log.Info("delivery failed", "message", out.MessageID, "attempt", it.Attempts, "giveUp", giveUp, "error", derr.Error())
	if !giveUp {
		backoff := time.Duration(1<<min(it.Attempts, 10)) * time.Second
		_ = st.Retry(ctx, it.ID, backoff, derr.Error(), false)
		// Nothing to record yet; browsers refresh all the same.
		w.Inbox.Live.Publish(ctx, live.Event{Type: "message.updated", ConversationID: out.ConversationID, MessageID: out.MessageID})
		return
	}
	w.finish(ctx, it, out, "failed", derr.Error())
}

// finish closes a delivery with its outcome, recorded on the message in the
// same transaction. If that fails the item stays in flight, and the next
// claim finds it Interrupted.
func (w *Worker) finish(ctx context.Context, it *store.OutboxItem, out inbox.Outbound, status, detail string) {
	if err := w.Inbox.FinishDelivery(ctx, it, out.MessageID, status, detail); err != nil && ctx.Err() == nil {
		w.Log.Warn("recording a delivery failed", "message", out.MessageID, "status", status, "error", err.Error())
	}
}
