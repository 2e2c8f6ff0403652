package web

import (
	"net/http"
	"strconv"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// notificationsPage is how many notifications a page of the list shows.
const notificationsPage = 30

// notificationsList is the member's notifications, newest first, a page at
// a time (?before=<id>), all or unread only (?unread=1).
func (s *Server) notificationsList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.NotificationFilter{Unread: q.Get("unread") == "1", Limit: notificationsPage + 1}
	if v := q.Get("before"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return badRequest("before: want a positive integer")
		}
		f.Before = id
	}
	list, err := s.Inbox.Notifications(r.Context(), currentUser(r).ID, f)
	if err != nil {
		return err
	}
	var older int64
	if len(list) > notificationsPage {
		list = list[:notificationsPage]
		older = list[len(list)-1].ID
	}
	anyUnread := false
	for _, n := range list {
		anyUnread = anyUnread || n.ReadAt == nil
	}
	s.render(w, r, "notifications", map[string]any{
		"Notifications": list, "UnreadOnly": f.Unread, "Older": older, "Paged": f.Before != 0, "AnyUnread": anyUnread,
	})
	return nil
}
