package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// eventNames name what a timeline event refers to: members and teams by id,
// and the zone its times are shown in.
type eventNames struct {
	member func(*int64) string
	teams  map[int64]string
	loc    *time.Location
}

func (n eventNames) team(id int64) string {
	if t, ok := n.teams[id]; ok {
		return t
	}
	return "team " + strconv.FormatInt(id, 10)
}

// describeEvent says what a change did, naming the values: "Sam assigned it
// to Alex", "Sam moved it to team Billing", "Sam snoozed it until Tue 09:00".
func describeEvent(e *store.TimelineEvent, n eventNames) string {
	var d struct {
		From       any      `json:"from"`
		To         any      `json:"to"`
		Until      string   `json:"until"`
		UntilReply bool     `json:"untilReply"`
		Woke       bool     `json:"woke"`
		Added      []string `json:"added"`
		Removed    []string `json:"removed"`
	}
	_ = json.Unmarshal(e.Data, &d)
	who := n.member(e.ActorID)
	switch e.Kind {
	case "status":
		if d.Woke {
			return "The snooze ended: reopened"
		}
		if d.To == "snoozed" {
			if d.UntilReply {
				return who + " snoozed it until the customer replies"
			}
			if t, err := time.Parse(time.RFC3339, d.Until); err == nil {
				return who + " snoozed it until " + snoozeLabel(t, n.loc)
			}
			return who + " snoozed it"
		}
		switch d.To {
		case "resolved":
			return who + " resolved it"
		case "open":
			if d.From == "snoozed" || d.From == "resolved" {
				return who + " reopened it"
			}
		}
		return fmt.Sprintf("%s changed the status from %v to %v", who, d.From, d.To)
	case "assigned":
		if d.To == nil {
			return who + " unassigned it"
		}
		id := toID(d.To)
		return who + " assigned it to " + n.member(&id)
	case "team":
		if d.To == nil {
			return who + " removed it from team " + n.team(toID(d.From))
		}
		return who + " moved it to team " + n.team(toID(d.To))
	case "priority":
		return fmt.Sprintf("%s set the priority to %v", who, d.To)
	case "tags":
		var parts []string
		if len(d.Added) > 0 {
			parts = append(parts, "tagged #"+strings.Join(d.Added, " #"))
		}
		for _, t := range d.Removed {
			parts = append(parts, "removed tag #"+t)
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

// snoozeLabel is a snooze time as a member reads it in their zone: "Tue
// 09:00" within a week, "3 Jan 2027 09:00" later.
func snoozeLabel(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	if d := time.Until(t); d > -24*time.Hour && d < 6*24*time.Hour {
		return t.Format("Mon 15:04")
	}
	return t.Format("2 Jan 2006 15:04")
}

// eventNames gathers the names a timeline shows.
func (s *Server) eventNames(r *http.Request, member func(*int64) string) (eventNames, error) {
	teams, err := s.Teams.List(r.Context())
	if err != nil {
		return eventNames{}, err
	}
	n := eventNames{member: member, teams: make(map[int64]string, len(teams)), loc: s.location(r)}
	for _, t := range teams {
		n.teams[t.ID] = t.Name
	}
	return n, nil
}
