package web

import (
	"net/http"
	"strconv"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// apiNotifications lists the caller's notifications, newest first:
// ?unread=true for unread ones only, ?before=<id> and ?limit= (1 to 100)
// to page. It also says how many are unread.
func (s *Server) apiNotifications(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var f store.NotificationFilter
	switch q.Get("unread") {
	case "", "false":
	case "true":
		f.Unread = true
	default:
		return badRequest("unread: want true or false")
	}
	for _, p := range []struct {
		name string
		max  int64
		into func(int64)
	}{
		{"before", 1 << 62, func(v int64) { f.Before = v }},
		{"limit", 100, func(v int64) { f.Limit = int(v) }},
	} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n > p.max {
			return badRequest("%s: want an integer from 1 to %d", p.name, p.max)
		}
		p.into(n)
	}
	me := currentUser(r).ID
	list, err := s.Inbox.Notifications(r.Context(), me, f)
	if err != nil {
		return err
	}
	unread, err := s.Inbox.UnreadNotifications(r.Context(), me)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": list, "unread": unread})
	return nil
}
