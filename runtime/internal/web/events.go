package web

import (
	"fmt"
	"net/http"
	"time"
)

// events streams live changes as Server-Sent Events. Each change is sent as
// "list" (refresh the conversation list) and "conversation-<id>"; a change
// of the member's own notifications as "notifications", to them only.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	flusher, ok := w.(http.Flusher)
	if !ok {
		return errStatus(http.StatusInternalServerError, "internal", "streaming unsupported")
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	me := currentUser(r).ID
	ch, stop := s.Live.Subscribe()
	defer stop()
	fmt.Fprint(w, "retry: 2000\n\n")
	flusher.Flush()
	ping := time.NewTicker(25 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-s.closing:
			return nil
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			flusher.Flush()
		case e, ok := <-ch:
			if !ok {
				return nil
			}
			if e.UserID != 0 {
				// One member's own event: their notifications changed.
				if e.UserID == me {
					fmt.Fprintf(w, "event: notifications\ndata: %s\n\n", e.Type)
					flusher.Flush()
				}
				continue
			}
			fmt.Fprintf(w, "event: list\ndata: %s\n\n", e.Type)
			if e.ConversationID != 0 {
				fmt.Fprintf(w, "event: conversation-%d\ndata: %s\n\n", e.ConversationID, e.Type)
			}
			flusher.Flush()
		}
	}
}
