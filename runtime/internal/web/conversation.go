package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// timelineItem is a message or an event, in time order.
type timelineItem struct {
	Message *store.Message
	Author  string
	Event   string
	At      time.Time
	// Failure is why a failed reply failed: its last delivery event's detail.
	Failure string
}

// conversationData adds what the inbox page shows of one conversation to
// data: the conversation, its contact, and its messages and changes in time
// order.
func (s *Server) conversationData(r *http.Request, id int64, data map[string]any) error {
	ctx := r.Context()
	t, err := s.Inbox.Thread(ctx, id)
	if err != nil {
		return err
	}
	contact := t.Contact
	users, names, err := s.members(ctx)
	if err != nil {
		return err
	}
	name := func(p *int64) string {
		if p == nil {
			return "nobody"
		}
		if n, ok := names[*p]; ok {
			return n
		}
		return "user " + strconv.FormatInt(*p, 10)
	}
	var items []timelineItem
	for _, m := range t.Messages {
		author := contact.Name
		if m.Direction != "incoming" {
			author = name(m.AuthorID)
		}
		item := timelineItem{Message: m, Author: author, At: m.CreatedAt}
		if m.Direction == "outgoing" && m.DeliveryStatus != nil && *m.DeliveryStatus == "failed" {
			events, err := s.Inbox.DeliveryEvents(ctx, m.ID)
			if err != nil {
				return err
			}
			for i := len(events) - 1; i >= 0 && item.Failure == ""; i-- {
				item.Failure = events[i].Detail
			}
		}
		items = append(items, item)
	}
	for _, e := range t.Timeline {
		items = append(items, timelineItem{Event: describeEvent(e, name), At: e.At})
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].At.Before(items[j].At) })
	data["Conv"] = t.Conversation
	data["Contact"] = contact
	data["Items"] = items
	data["Users"] = users
	data["Restricted"] = contact.ProcessingRestricted
	data["Priorities"] = inbox.Priorities
	data["Statuses"] = statuses
	data["Shopify"] = len(s.shopifyAdapters()) > 0 // the sidebar loads the contact's orders
	data["Composer"] = s.composer(ctx, t.Conversation.Channel, lastIncoming(t.Messages))
	return nil
}

func describeEvent(e *store.TimelineEvent, name func(*int64) string) string {
	var d struct {
		From    any      `json:"from"`
		To      any      `json:"to"`
		Added   []string `json:"added"`
		Removed []string `json:"removed"`
	}
	_ = json.Unmarshal(e.Data, &d)
	who := name(e.ActorID)
	switch e.Kind {
	case "status":
		return fmt.Sprintf("%s changed the status from %v to %v", who, d.From, d.To)
	case "assigned":
		if d.To == nil {
			return who + " unassigned the conversation"
		}
		id := toID(d.To)
		return fmt.Sprintf("%s assigned it to %s", who, name(&id))
	case "team":
		return who + " changed the team"
	case "priority":
		return fmt.Sprintf("%s set the priority to %v", who, d.To)
	case "tags":
		var parts []string
		if len(d.Added) > 0 {
			parts = append(parts, "tagged #"+strings.Join(d.Added, " #"))
		}
		if len(d.Removed) > 0 {
			parts = append(parts, "removed #"+strings.Join(d.Removed, " #"))
		}
		return who + " " + strings.Join(parts, ", ")
	}
	return who + " " + e.Kind
}

func toID(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case string:
		id, _ := strconv.ParseInt(n, 10, 64)
		return id
	}
	return 0
}

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
