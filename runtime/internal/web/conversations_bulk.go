package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

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
	back := strings.Replace(r.PostForm.Get("back"), "&fragment=list", "", 1)
	return s.seeOther(w, r, back)
}
