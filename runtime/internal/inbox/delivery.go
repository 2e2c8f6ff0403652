package inbox

import (
	"context"

	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// RecordDelivery records what became of an agent's reply (sent, delivered,
// read or failed, with a detail) and announces the change. The outbox
// worker calls it with what the channel answered, and the channel's
// receiver, through the API, with what it learned since.
func (s *Service) RecordDelivery(ctx context.Context, messageID int64, status, detail string) error {
	convID, err := s.Store.RecordDelivery(ctx, messageID, status, detail)
	if err != nil {
		return err
	}
	s.Live.Publish(ctx, live.Event{Type: "message.updated", ConversationID: convID, MessageID: messageID})
	return nil
}

// FinishDelivery closes outbox item it with the outcome of its last
// attempt (sent, failed or unconfirmed), recorded on the message in the same
// transaction, and announces the change.
func (s *Service) FinishDelivery(ctx context.Context, it *store.OutboxItem, messageID int64, status, detail string) error {
	convID, err := s.Store.FinishDelivery(ctx, it, messageID, status, detail)
	if err != nil {
		return err
	}
	s.Live.Publish(ctx, live.Event{Type: "message.updated", ConversationID: convID, MessageID: messageID})
	return nil
}

// DeliveryEvents lists the delivery history of an outgoing message.
func (s *Service) DeliveryEvents(ctx context.Context, messageID int64) ([]store.DeliveryEvent, error) {
	return s.Store.DeliveryEvents(ctx, messageID)
}

// statusRank orders delivery statuses: a status moves only forward. failed
// ends a delivery that was not yet delivered; it never overrides delivered
// or read. unconfirmed (the send may have reached the provider, its answer
// was lost) ranks with queued: any report of the provider's on it settles
// it (WhatsApp's name it through biz_opaque_callback_data).
var statusRank = map[string]int{"queued": 0, "unconfirmed": 0, "sent": 1, "failed": 2, "delivered": 3, "read": 4}

// StatusForward says whether a message at status have may move to next.
func StatusForward(have, next string) bool {
	h, ok1 := statusRank[have]
	n, ok2 := statusRank[next]
	if !ok2 {
		return false
	}
	if !ok1 {
		return true
	}
	if next == "failed" {
		return have == "queued" || have == "unconfirmed" || have == "sent"
	}
	return n > h
}

// ProviderStatus records a provider's report on an outgoing message, found
// by the provider's id for it on channel. A status that would move the
// message backwards (read, then a late delivered) or repeats one it has is
// ignored: ok is false. An unknown id is store.ErrNotFound: a provider may
// report on messages sent before this workspace connected it.
func (s *Service) ProviderStatus(ctx context.Context, channel, providerID, status, detail string) (ok bool, err error) {
	convID, msgID, ok, err := s.Store.AdvanceDelivery(ctx, channel, providerID, status, detail, StatusForward)
	if err != nil || !ok {
		return ok, err
	}
	s.Live.Publish(ctx, live.Event{Type: "message.updated", ConversationID: convID, MessageID: msgID})
	return true, nil
}

// RetryDelivery queues a failed or unconfirmed reply again, with its audit
// entry.
func (s *Service) RetryDelivery(ctx context.Context, actor int64, messageID int64) error {
	convID, err := s.Store.RequeueFailed(ctx, &actor, messageID)
	if err != nil {
		return err
	}
	s.Live.Publish(ctx, live.Event{Type: "message.updated", ConversationID: convID, MessageID: messageID})
	return nil
}
