package web

import "net/http"

// apiNotificationsRead marks the caller's notifications read: {"ids": [...]}
// or {"all": true}.
func (s *Server) apiNotificationsRead(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		IDs []int64 `json:"ids"`
		All bool    `json:"all"`
	}
	if err := readJSON(w, r, 64<<10, &b); err != nil {
		return err
	}
	if !b.All && len(b.IDs) == 0 {
		return badRequest("ids: give the notifications to mark read, or all: true")
	}
	if len(b.IDs) > 1000 {
		return badRequest("ids: at most 1000 at once")
	}
	for _, id := range b.IDs {
		if id <= 0 {
			return badRequest("ids: want positive integers")
		}
	}
	me := currentUser(r).ID
	marked, err := s.Inbox.MarkNotificationsRead(r.Context(), me, b.IDs, b.All)
	if err != nil {
		return err
	}
	unread, err := s.Inbox.UnreadNotifications(r.Context(), me)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"marked": marked, "unread": unread})
	return nil
}
