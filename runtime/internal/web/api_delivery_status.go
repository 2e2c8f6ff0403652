package web

import "net/http"

// apiDeliveryStatus lets the receiver of the API channel's webhook report
// what became of a reply: delivered, read or failed.
func (s *Server) apiDeliveryStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b struct {
		Status string `json:"status"`
		Detail string `json:"detail"`
	}
	if err := readJSON(w, r, 8<<10, &b); err != nil {
		return err
	}
	switch b.Status {
	case "sent", "delivered", "read", "failed":
	default:
		return badRequest("status: want sent, delivered, read or failed")
	}
	if len(b.Detail) > 1024 {
		return badRequest("detail: at most 1024 bytes")
	}
	if err := s.Inbox.RecordDelivery(r.Context(), id, b.Status, b.Detail); err != nil {
		return err
	}
	events, err := s.Inbox.DeliveryEvents(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"messageId": id, "deliveries": events})
	return nil
}
