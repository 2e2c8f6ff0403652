package web

import (
	"net/http"
	"strconv"
)

// notificationsRead marks the member's notifications read: those named by
// id fields, or all of them (all=1). It returns to next, a page of ours, or
// to the list.
func (s *Server) notificationsRead(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("the form does not parse")
	}
	all := r.PostForm.Get("all") == "1"
	var ids []int64
	for _, v := range r.PostForm["id"] {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return badRequest("id: want a positive integer")
		}
		ids = append(ids, id)
	}
	if !all && len(ids) == 0 {
		return badRequest("id: choose a notification, or all")
	}
	if _, err := s.Inbox.MarkNotificationsRead(r.Context(), currentUser(r).ID, ids, all); err != nil {
		return err
	}
	next := r.PostForm.Get("next")
	if !localPath(next) {
		next = "/notifications"
	}
	return s.seeOther(w, r, next)
}
