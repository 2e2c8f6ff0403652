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

// DeliveryEvents lists the delivery history of an outgoing message.
func (s *Service) DeliveryEvents(ctx context.Context, messageID int64) ([]store.DeliveryEvent, error) {
	return s.Store.DeliveryEvents(ctx, messageID)
}
