package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// afterWrite sends an htmx request the refreshed conversation, and a plain
// form post back to the conversation page.
func (s *Server) afterWrite(w http.ResponseWriter, r *http.Request, id int64) error {
	if r.Header.Get("HX-Request") == "true" {
		data := map[string]any{}
		if err := s.conversationData(r, id, data); err != nil {
			return err
		}
		data["CanWrite"] = true
		q := r.URL.Query()
		q.Set("fragment", "conversation")
		r.URL.RawQuery = q.Encode()
		s.render(w, r, "inbox", data)
		return nil
	}
	http.Redirect(w, r, "/inbox/conversations/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
	return nil
}

func (s *Server) conversationReply(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := s.Inbox.Reply(r.Context(), currentUser(r).ID, id, r.PostFormValue("body")); err != nil {
		return err
	}
	return s.afterWrite(w, r, id)
}

func (s *Server) conversationNote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := s.Inbox.Note(r.Context(), currentUser(r).ID, id, r.PostFormValue("body")); err != nil {
		return err
	}
	return s.afterWrite(w, r, id)
}

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

func optionalID(v, field string) (*int64, error) {
	if v == "" {
		return nil, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return nil, badRequest("%s: want an id", field)
	}
	return &id, nil
}

// conversationsBulk applies one action to the selected conversations.
func (s *Server) conversationsBulk(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("the form does not parse")
	}
	ids := r.PostForm["ids"]
	if len(ids) == 0 || len(ids) > 200 {
		return badRequest("ids: select 1 to 200 conversations")
	}
	me := currentUser(r).ID
	var ch store.ConversationChange
	switch r.PostForm.Get("action") {
	case "resolve", "open", "pending":
		st := map[string]string{"resolve": "resolved", "open": "open", "pending": "pending"}[r.PostForm.Get("action")]
		ch.Status = &st
	case "assign_me":
		p := &me
		ch.AssigneeID = &p
	case "unassign":
		var p *int64
		ch.AssigneeID = &p
	default:
		return badRequest("action: want resolve, open, pending, assign_me or unassign")
	}
	for _, raw := range ids {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return badRequest("ids: want ids")
		}
		if _, err := s.Inbox.Update(r.Context(), me, id, ch); err != nil {
			return err
		}
	}
	back := r.PostForm.Get("back")
	back = strings.Replace(back, "&fragment=list", "", 1)
	http.Redirect(w, r, safeNext(back), http.StatusSeeOther)
	return nil
}
