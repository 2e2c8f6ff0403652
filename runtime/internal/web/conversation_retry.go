package web

import "net/http"

// conversationRetry queues a failed reply of the conversation again.
func (s *Server) conversationRetry(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	mid, err := pathID(r, "mid")
	if err != nil {
		return err
	}
	t, err := s.Inbox.Thread(r.Context(), id)
	if err != nil {
		return err
	}
	found := false
	for _, m := range t.Messages {
		found = found || m.ID == mid
	}
	if !found {
		return errStatus(http.StatusNotFound, "not_found", "no message %d in this conversation", mid)
	}
	if err := s.Inbox.RetryDelivery(r.Context(), currentUser(r).ID, mid); err != nil {
		return err
	}
	return s.afterWrite(w, r, id)
}
