package web

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// statuses are the conversation statuses in the order pages offer them.
var statuses = []string{"open", "pending", "snoozed", "resolved"}

// listStatuses are the status filters of the list: a view shows open
// conversations unless another status, or "all", is chosen.
var listStatuses = []string{"open", "pending", "snoozed", "resolved", "all"}

// viewParams is the working view in the URL: which conversations to list.
type viewParams struct {
	Name, Status, Tag, Channel, Search string
	TeamID                             int64
	// Before pages to conversations older than a cursor "<unix nanos>.<id>".
	Before string
}

func parseView(q url.Values) viewParams {
	v := viewParams{Name: q.Get("view"), Status: q.Get("status"), Tag: q.Get("tag"), Channel: q.Get("channel"), Search: strings.TrimSpace(q.Get("q"))}
	if v.Name != "mine" && v.Name != "unassigned" {
		v.Name = "all"
	}
	switch v.Status {
	case "open", "pending", "resolved", "snoozed", "all":
	default:
		v.Status = "open"
	}
	v.TeamID, _ = strconv.ParseInt(q.Get("team"), 10, 64)
	v.Before = q.Get("before")
	return v
}

// cursor is where the next page of a list starts.
func cursor(c *store.Conversation) string {
	return strconv.FormatInt(c.LastMessageAt.UnixNano(), 10) + "." + strconv.FormatInt(c.ID, 10)
}

func parseCursor(s string) (time.Time, int64, bool) {
	ns, id, ok := strings.Cut(s, ".")
	if !ok {
		return time.Time{}, 0, false
	}
	n, err1 := strconv.ParseInt(ns, 10, 64)
	i, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, 0, false
	}
	return time.Unix(0, n), i, true
}

func (v viewParams) query() string {
	q := url.Values{"view": {v.Name}}
	for k, val := range map[string]string{"status": v.Status, "tag": v.Tag, "channel": v.Channel, "q": v.Search} {
		if val != "" {
			q.Set(k, val)
		}
	}
	if v.TeamID != 0 {
		q.Set("team", strconv.FormatInt(v.TeamID, 10))
	}
	if v.Before != "" {
		q.Set("before", v.Before)
	}
	return q.Encode()
}

func (v viewParams) store(me int64) store.View {
	sv := store.View{Status: v.Status, Tag: v.Tag, Channel: v.Channel, Search: v.Search, TeamID: v.TeamID, Limit: 50, Reader: me}
	if sv.Status == "all" {
		sv.Status = ""
	}
	if at, id, ok := parseCursor(v.Before); ok {
		sv.BeforeAt, sv.BeforeID = at, id
	}
	switch v.Name {
	case "mine":
		sv.AssigneeID = me
	case "unassigned":
		sv.Unassigned = true
	}
	return sv
}

// inboxData gathers the list (and, when convID is set, one conversation,
// which the member has now read).
//
// Query is the working view as a URL query (template.URL, so that a link
// "/inbox/conversations/7?{{.Query}}" keeps its "=" and "&": opening a
// conversation keeps the view, and j/k walk only its conversations).
func (s *Server) inboxData(r *http.Request, v viewParams, convID int64) (map[string]any, error) {
	ctx := r.Context()
	u := currentUser(r)
	if convID != 0 {
		if err := s.Inbox.MarkRead(ctx, u.ID, convID); err != nil {
			return nil, err
		}
	}
	convs, err := s.Inbox.Conversations(ctx, v.store(u.ID))
	if err != nil {
		return nil, err
	}
	teams, err := s.Teams.List(ctx)
	if err != nil {
		return nil, err
	}
	counts, err := s.Inbox.CountViews(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	q := v.query()
	// The list refreshes from the page it is on, so that the open
	// conversation stays selected (and read) in it.
	listURL := "/inbox?" + q + "&fragment=list"
	if convID != 0 {
		listURL = "/inbox/conversations/" + strconv.FormatInt(convID, 10) + "?" + q + "&fragment=list"
	}
	data := map[string]any{
		"V": v, "Convs": convs, "Teams": teams, "Query": template.URL(q), "ListURL": listURL, "Counts": counts,
		"Statuses": statuses, "ListStatuses": listStatuses, "CanWrite": auth.Role(u.Role).AtLeast(auth.Agent),
		"Channels": s.channelFilters(v.Channel),
	}
	if convID != 0 {
		data["ConvID"] = &convID
	}
	if len(convs) == 50 {
		next := v
		next.Before = cursor(convs[len(convs)-1])
		data["More"] = "/inbox?" + next.query()
	}
	return data, nil
}

// With is the list of a view with one filter changed, the others kept
// (the search is kept; the page cursor is not).
func (v viewParams) With(key, value string) string {
	n := v
	n.Before = ""
	switch key {
	case "view":
		n.Name, n.Status = value, "open"
	case "status":
		n.Status = value
	case "team":
		n.TeamID, _ = strconv.ParseInt(value, 10, 64)
	case "channel":
		n.Channel = value
	case "tag":
		n.Tag = value
	}
	return "/inbox?" + n.query()
}

// channelFilter is one entry of the inbox's Channel filter.
type channelFilter struct{ Key, Label string }

// channelFilters lists the channels an inbox can be filtered by: the API
// channel, each connected Integration that carries conversations, and the
// one filtered by now (whose Integration may be gone).
func (s *Server) channelFilters(current string) []channelFilter {
	out := []channelFilter{{"api", "API"}}
	seen := map[string]bool{"api": true}
	if s.Integrations != nil {
		for _, st := range s.Integrations.Statuses() {
			if _, ok := conversationTypes[st.Type]; ok && !seen[st.Key] {
				out = append(out, channelFilter{st.Key, channelLabel(st.Key)})
				seen[st.Key] = true
			}
		}
	}
	if current != "" && !seen[current] {
		out = append(out, channelFilter{current, channelLabel(current)})
	}
	return out
}

// conversationTypes are the Integration types that carry conversations,
// with how the inbox names them.
var conversationTypes = map[string]string{
	"whatsapp": "WhatsApp", "messenger": "Messenger", "telnyx": "SMS", "imap": "Email", "microsoft": "Microsoft 365",
}

// channelLabel names a channel key for people: "SMS · sms" for
// "telnyx/sms".
func channelLabel(key string) string {
	typ, name, ok := contract.SplitChannelKey(key)
	if !ok {
		if key == "api" {
			return "API"
		}
		return key
	}
	if l, ok := conversationTypes[typ]; ok {
		typ = l
	}
	return typ + " · " + name
}
