package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// viewParams is the working view in the URL: which conversations to list.
type viewParams struct {
	Name, Status, Tag, Channel, Search string
	TeamID                             int64
}

func parseView(q url.Values) viewParams {
	v := viewParams{Name: q.Get("view"), Status: q.Get("status"), Tag: q.Get("tag"), Channel: q.Get("channel"), Search: strings.TrimSpace(q.Get("q"))}
	if v.Name != "mine" && v.Name != "unassigned" {
		v.Name = "all"
	}
	switch v.Status {
	case "open", "pending", "resolved", "snoozed":
	default:
		v.Status = ""
	}
	v.TeamID, _ = strconv.ParseInt(q.Get("team"), 10, 64)
	return v
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
	return q.Encode()
}

func (v viewParams) store(me int64) store.View {
	sv := store.View{Status: v.Status, Tag: v.Tag, Channel: v.Channel, Search: v.Search, TeamID: v.TeamID, Limit: 50}
	switch v.Name {
	case "mine":
		sv.AssigneeID = me
	case "unassigned":
		sv.Unassigned = true
	}
	return sv
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/inbox", http.StatusSeeOther)
	return nil
}

func (s *Server) inboxList(w http.ResponseWriter, r *http.Request) error {
	data, err := s.inboxData(r, parseView(r.URL.Query()), 0)
	if err != nil {
		return err
	}
	s.render(w, r, "inbox", data)
	return nil
}

// inboxData gathers the list (and, when convID is set, one conversation).
func (s *Server) inboxData(r *http.Request, v viewParams, convID int64) (map[string]any, error) {
	u := currentUser(r)
	convs, err := s.Store.Conversations(r.Context(), v.store(u.ID))
	if err != nil {
		return nil, err
	}
	teams, err := s.Store.Teams(r.Context())
	if err != nil {
		return nil, err
	}
	q := v.query()
	data := map[string]any{
		"V": v, "Convs": convs, "Teams": teams, "Query": q, "ListURL": "/inbox?" + q + "&fragment=list",
		"Statuses": []string{"open", "pending", "snoozed", "resolved"}, "CanWrite": auth.Role(u.Role).AtLeast(auth.Agent),
	}
	if convID != 0 {
		data["ConvID"] = &convID
	}
	return data, nil
}
