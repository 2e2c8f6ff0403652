package web

import (
	"html/template"
	"net/http"
	"sort"
	"strconv"
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
		if m.Direction == "outgoing" && m.DeliveryStatus != nil && (*m.DeliveryStatus == "failed" || *m.DeliveryStatus == "unconfirmed") {
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
	evNames, err := s.eventNames(r, name)
	if err != nil {
		return err
	}
	for _, e := range t.Timeline {
		items = append(items, timelineItem{Event: describeEvent(e, evNames), At: e.At})
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
	cv := s.composer(ctx, t.Conversation.Channel, lastIncoming(t.Messages))
	if cv.Blocked, err = s.replyBlock(ctx, t.Conversation, contact, cv); err != nil {
		return err
	}
	if cv.Blocked == "" && t.Conversation.Channel == "api" {
		set, err := s.Inbox.Store.APIWebhookSet(ctx)
		if err != nil {
			return err
		}
		if !set {
			cv.Warning = "no webhook URL is set for the API channel, so a reply will fail until an admin sets one in Settings → Channels; it is kept and can be retried then."
		}
	}
	data["Composer"] = cv
	return nil
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
		// The page's view (?view=mine...) rides on the post's URL, so the
		// pane's links keep it.
		data["Query"] = template.URL(parseView(q).query()) // encoded: safe in an href
		q.Set("fragment", "conversation")
		r.URL.RawQuery = q.Encode()
		s.render(w, r, "inbox", data)
		return nil
	}
	http.Redirect(w, r, "/inbox/conversations/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
	return nil
}
