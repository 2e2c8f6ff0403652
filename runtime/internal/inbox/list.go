package inbox

import (
	"context"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// MarkRead records that a member opened a conversation: it is read for them
// until the next incoming message.
func (s *Service) MarkRead(ctx context.Context, userID, conversationID int64) error {
	return s.Store.MarkRead(ctx, userID, conversationID)
}

// CountViews counts the inbox's views for a member.
func (s *Service) CountViews(ctx context.Context, me int64) (*store.ViewCounts, error) {
	return s.Store.CountViews(ctx, me)
}
