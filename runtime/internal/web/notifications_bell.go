package web

import (
	"bytes"
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// bell is what the top bar's notifications menu shows.
type bell struct {
	Unread int
	Recent []*store.Notification
}

// bellRecent is how many notifications the menu lists.
const bellRecent = 6

// bellData adds the signed-in member's bell to a page's data. A failure
// leaves the bell out rather than failing the page.
func (s *Server) bellData(r *http.Request, data map[string]any) {
	u := currentUser(r)
	if u == nil || s.Inbox == nil {
		return
	}
	b, err := s.bell(r, u.ID)
	if err != nil {
		s.Log.Warn("reading notifications for the top bar failed", "error", err.Error())
		return
	}
	data["Bell"] = b
}

func (s *Server) bell(r *http.Request, userID int64) (*bell, error) {
	n, err := s.Inbox.UnreadNotifications(r.Context(), userID)
	if err != nil {
		return nil, err
	}
	recent, err := s.Inbox.Notifications(r.Context(), userID, store.NotificationFilter{Limit: bellRecent})
	if err != nil {
		return nil, err
	}
	return &bell{Unread: n, Recent: recent}, nil
}

// notificationsBell serves the top bar's notifications menu alone: the live
// region refetches it when the member's notifications change.
func (s *Server) notificationsBell(w http.ResponseWriter, r *http.Request) error {
	b, err := s.bell(r, currentUser(r).ID)
	if err != nil {
		return err
	}
	data := map[string]any{"Bell": b, "User": currentUser(r), "Loc": s.location(r), "Path": r.URL.Path}
	if se := currentSession(r); se != nil {
		data["CSRF"] = se.csrf
	}
	var buf bytes.Buffer
	if err := s.tmpl.pages["notifications"].ExecuteTemplate(&buf, "bell", data); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = buf.WriteTo(w)
	return nil
}
