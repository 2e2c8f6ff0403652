package web

import (
	"net/http"
	"strconv"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) apiConversation(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t, err := s.Inbox.Thread(r.Context(), id)
	if err != nil {
		return err
	}
	// The delivery history of each outgoing message, keyed by message id.
	deliveries := map[string][]store.DeliveryEvent{}
	for _, m := range t.Messages {
		if m.Direction != "outgoing" {
			continue
		}
		ev, err := s.Inbox.DeliveryEvents(r.Context(), m.ID)
		if err != nil {
			return err
		}
		deliveries[strconv.FormatInt(m.ID, 10)] = ev
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversation": t.Conversation, "contact": t.Contact, "messages": t.Messages,
		"timeline": t.Timeline, "deliveries": deliveries})
	return nil
}
