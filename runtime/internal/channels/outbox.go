package channels

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/live"
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

// RunOnce delivers what is due now.
func (w *Worker) RunOnce(ctx context.Context) {
	st := w.Inbox.Store
	items, err := st.ClaimDue(ctx, 20, time.Minute)
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
		var derr error
		var providerID string
		if !ok {
			derr = inbox.ErrNoChannel
		} else {
			providerID, derr = ch.Deliver(ctx, out)
		}
		status, detail := "sent", ""
		if derr == nil {
			// The provider's id first: its status reports may come at once.
			if providerID != "" && out.Channel != "api" {
				if err := st.SetProviderID(ctx, out.MessageID, providerID); err != nil && ctx.Err() == nil {
					w.Log.Warn("recording a provider's message id failed", "message", out.MessageID, "error", err.Error())
				}
			}
			_ = st.Delivered(ctx, it.ID)
		} else {
			// A permanent refusal (outside the window, a revoked grant) is
			// not retried: the agent sees it at once.
			giveUp := it.Attempts >= w.MaxAttempts || adapter.IsPermanent(derr)
			backoff := time.Duration(1<<min(it.Attempts, 10)) * time.Second
			_ = st.Retry(ctx, it.ID, backoff, derr.Error(), giveUp)
			w.Log.Info("delivery failed", "message", out.MessageID, "attempt", it.Attempts, "giveUp", giveUp, "error", derr.Error())
			if !giveUp { // nothing to record yet; browsers refresh all the same
				w.Inbox.Live.Publish(ctx, live.Event{Type: "message.updated", ConversationID: out.ConversationID, MessageID: out.MessageID})
				continue
			}
			status, detail = "failed", derr.Error()
		}
		if err := w.Inbox.RecordDelivery(ctx, out.MessageID, status, detail); err != nil && ctx.Err() == nil {
			w.Log.Warn("recording a delivery failed", "message", out.MessageID, "error", err.Error())
		}
	}
}
