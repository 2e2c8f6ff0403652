package web

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// conversationUpdate applies the fields present in the form, each as soon as
// it is chosen in the sidebar: status, snooze (a preset) or snooze_until (a
// datetime-local in the member's zone), assignee ("me" for oneself), team,
// priority, add_tags, remove_tags. The sidebar's script posts one field at a
// time and refreshes the pane itself: it gets {"ok":true}; htmx gets the
// conversation's fragment, and a plain post the conversation page.
func (s *Server) conversationUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return badRequest("the form does not parse")
	}
	ch, err := s.changeFromForm(r, time.Now())
	if err != nil {
		return err
	}
	if _, err := s.Inbox.Update(r.Context(), currentUser(r).ID, id, ch); err != nil {
		return err
	}
	if r.Header.Get("X-Switchboard-Form") == "1" && r.Header.Get("HX-Request") != "true" {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "conversation": id})
		return nil
	}
	return s.afterWrite(w, r, id)
}

func (s *Server) changeFromForm(r *http.Request, now time.Time) (store.ConversationChange, error) {
	var ch store.ConversationChange
	f := r.PostForm
	loc := s.location(r)
	if f.Has("status") {
		st := f.Get("status")
		if !slices.Contains(statuses, st) {
			return ch, fieldError("status", "Choose open, pending, snoozed or resolved.")
		}
		ch.Status = &st
	}
	// A preset or a time snoozes, with or without status=snoozed.
	if preset := f.Get("snooze"); preset != "" {
		st := "snoozed"
		ch.Status = &st
		if preset == "reply" {
			ch.UntilReply = true
		} else {
			t, ok := snoozePreset(preset, now.In(loc))
			if !ok {
				return ch, fieldError("snooze", "Choose later today, tomorrow, next week or until the customer replies.")
			}
			ch.SnoozedUntil = &t
		}
	} else if raw := strings.TrimSpace(f.Get("snooze_until")); raw != "" || (ch.Status != nil && *ch.Status == "snoozed") {
		if raw == "" {
			return ch, fieldError("snooze_until", "Choose when it should wake up, or a preset.")
		}
		t, err := parseLocalInput(loc, raw)
		if err != nil {
			return ch, fieldError("snooze_until", "Enter a date and time, such as 2026-12-03T09:00.")
		}
		if !t.After(now) {
			return ch, fieldError("snooze_until", "%s has passed (%s): choose a time in the future.", t.Format("2 Jan 2006 15:04"), loc.String())
		}
		st := "snoozed"
		ch.Status = &st
		ch.SnoozedUntil = &t
	}
	if f.Has("assignee") {
		if f.Get("assignee") == "me" {
			me := currentUser(r).ID
			p := &me
			ch.AssigneeID = &p
		} else {
			p, err := optionalID(f.Get("assignee"), "assignee")
			if err != nil {
				return ch, fieldError("assignee", "Choose a member.")
			}
			ch.AssigneeID = &p
		}
	}
	if f.Has("team") {
		p, err := optionalID(f.Get("team"), "team")
		if err != nil {
			return ch, fieldError("team", "Choose a team.")
		}
		ch.TeamID = &p
	}
	if f.Has("priority") {
		p := f.Get("priority")
		if !slices.Contains(inbox.Priorities, p) {
			return ch, fieldError("priority", "Choose none, low, medium, high or urgent.")
		}
		ch.Priority = &p
	}
	// Tags are written with or without their "#".
	tags := func(field string) ([]string, error) {
		var out []string
		for _, t := range strings.FieldsFunc(f.Get(field), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
			t = strings.TrimPrefix(t, "#")
			if t == "" || len(t) > 64 {
				return nil, fieldError(field, "A tag is 1 to 64 characters without spaces or commas.")
			}
			out = append(out, t)
		}
		return out, nil
	}
	var err error
	if ch.AddTags, err = tags("add_tags"); err != nil {
		return ch, err
	}
	if ch.RemoveTags, err = tags("remove_tags"); err != nil {
		return ch, err
	}
	return ch, nil
}

// snoozePreset is when a preset wakes a conversation snoozed at now (in the
// member's zone): "later" in three hours, or at 18:00 if that comes first;
// "tomorrow" at 09:00; "nextweek" on the next Monday at 09:00.
func snoozePreset(key string, now time.Time) (time.Time, bool) {
	loc := now.Location()
	y, m, d := now.Date()
	at := func(days, hour int) time.Time { return time.Date(y, m, d+days, hour, 0, 0, 0, loc) }
	switch key {
	case "later":
		t := now.Add(3 * time.Hour).Truncate(time.Minute)
		if six := at(0, 18); six.After(now.Add(30*time.Minute)) && six.Before(t) {
			t = six
		}
		return t, true
	case "tomorrow":
		return at(1, 9), true
	case "nextweek":
		days := (8 - int(now.Weekday())) % 7 // days to the next Monday
		if days == 0 {
			days = 7
		}
		return at(days, 9), true
	}
	return time.Time{}, false
}

// snoozeChoice is a preset as the sidebar offers it.
type snoozeChoice struct{ Key, Label, When string }

// snoozeChoices are the presets with the times they mean for a member in loc.
func snoozeChoices(loc *time.Location) []snoozeChoice {
	if loc == nil {
		loc = time.UTC
	}
	now := time.Now().In(loc)
	out := []snoozeChoice{}
	for _, p := range []struct{ key, label string }{{"later", "Later today"}, {"tomorrow", "Tomorrow"}, {"nextweek", "Next week"}} {
		t, _ := snoozePreset(p.key, now)
		out = append(out, snoozeChoice{p.key, p.label, t.Format("Mon 15:04")})
	}
	return append(out, snoozeChoice{"reply", "Until the customer replies", ""})
}
