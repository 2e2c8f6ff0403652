package inbox

import (
	"context"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Conversations lists a working view, most recent activity first.
func (s *Service) Conversations(ctx context.Context, v store.View) ([]*store.Conversation, error) {
	return s.Store.Conversations(ctx, v)
}

// Thread is a conversation with what is shown with it.
type Thread struct {
	Conversation *store.Conversation
	Contact      *store.Contact
	Messages     []*store.Message       // oldest first, notes included
	Timeline     []*store.TimelineEvent // changes, oldest first
}

// Thread returns a conversation with its contact, messages and timeline.
func (s *Service) Thread(ctx context.Context, conversationID int64) (*Thread, error) {
	conv, err := s.Store.ConversationByID(ctx, nil, conversationID)
	if err != nil {
		return nil, err
	}
	t := &Thread{Conversation: conv}
	if t.Contact, err = s.Store.ContactByID(ctx, nil, conv.ContactID); err != nil {
		return nil, err
	}
	if t.Messages, err = s.Store.Messages(ctx, conversationID); err != nil {
		return nil, err
	}
	if t.Timeline, err = s.Store.Timeline(ctx, conversationID); err != nil {
		return nil, err
	}
	return t, nil
}

// Attachment returns a file of a message, with its bytes.
func (s *Service) Attachment(ctx context.Context, id int64) (*store.Attachment, error) {
	return s.Store.AttachmentData(ctx, id)
}
