package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// conversationUpdate applies the fields present in the form: status (with
// snooze_until), assignee, team, priority, add_tags, remove_tags.
func (s *Server) conversationUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return badRequest("the form does not parse")
	}
	ch, err := changeFromForm(r)
	if err != nil {
		return err
	}
	if _, err := s.Inbox.Update(r.Context(), currentUser(r).ID, id, ch); err != nil {
		return err
	}
	return s.afterWrite(w, r, id)
}

func changeFromForm(r *http.Request) (store.ConversationChange, error) {
	var ch store.ConversationChange
	f := r.PostForm
	if f.Has("status") {
		st := f.Get("status")
		ch.Status = &st
		if st == "snoozed" {
			t, err := time.Parse("2006-01-02T15:04", f.Get("snooze_until"))
			if err != nil {
				return ch, badRequest("snooze_until: want a date and time")
			}
			ch.SnoozedUntil = &t
		}
	}
	if f.Has("assignee") {
		p, err := optionalID(f.Get("assignee"), "assignee")
		if err != nil {
			return ch, err
		}
		ch.AssigneeID = &p
	}
	if f.Has("team") {
		p, err := optionalID(f.Get("team"), "team")
		if err != nil {
			return ch, err
		}
		ch.TeamID = &p
	}
	if f.Has("priority") {
		p := f.Get("priority")
		ch.Priority = &p
	}
	ch.AddTags = strings.Fields(f.Get("add_tags"))
	ch.RemoveTags = strings.Fields(f.Get("remove_tags"))
	return ch, nil
}
