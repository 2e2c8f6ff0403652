package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// apiConversationUpdate applies a JSON patch of the fields present; null
// clears assigneeId or teamId.
func (s *Server) apiConversationUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := readJSON(w, r, 64<<10, &raw); err != nil {
		return err
	}
	var ch store.ConversationChange
	for k, v := range raw {
		switch k {
		case "status", "priority":
			var str string
			if json.Unmarshal(v, &str) != nil {
				return badRequest("%s: want a string", k)
			}
			if k == "status" {
				ch.Status = &str
			} else {
				ch.Priority = &str
			}
		case "snoozedUntil":
			var t time.Time
			if json.Unmarshal(v, &t) != nil {
				return badRequest("snoozedUntil: want an RFC 3339 time")
			}
			ch.SnoozedUntil = &t
		case "assigneeId", "teamId":
			var p *int64
			if json.Unmarshal(v, &p) != nil || (p != nil && *p <= 0) {
				return badRequest("%s: want an id or null", k)
			}
			if k == "assigneeId" {
				ch.AssigneeID = &p
			} else {
				ch.TeamID = &p
			}
		case "addTags", "removeTags":
			var tags []string
			if json.Unmarshal(v, &tags) != nil {
				return badRequest("%s: want a list of strings", k)
			}
			if k == "addTags" {
				ch.AddTags = tags
			} else {
				ch.RemoveTags = tags
			}
		default:
			return badRequest("unknown field %q", k)
		}
	}
	conv, err := s.Inbox.Update(r.Context(), currentUser(r).ID, id, ch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversation": conv})
	return nil
}
