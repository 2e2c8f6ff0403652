package web

import "net/http"

// apiMessageRetry queues a failed reply again.
func (s *Server) apiMessageRetry(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Inbox.RetryDelivery(r.Context(), currentUser(r).ID, id); err != nil {
		return err
	}
	events, err := s.Inbox.DeliveryEvents(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"messageId": id, "deliveryStatus": "queued", "deliveries": events})
	return nil
}
