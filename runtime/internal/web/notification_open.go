package web

import (
	"fmt"
	"net/http"
)

// notificationOpen marks a notification read and goes to what it is about:
// the conversation, at the note.
func (s *Server) notificationOpen(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	n, err := s.Inbox.ReadNotification(r.Context(), currentUser(r).ID, id)
	if err != nil {
		return err
	}
	to := fmt.Sprintf("/inbox/conversations/%d", n.ConversationID)
	if n.MessageID != nil {
		to += fmt.Sprintf("#msg-%d", *n.MessageID)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}
