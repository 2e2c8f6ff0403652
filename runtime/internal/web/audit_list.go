package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// auditRow is an audit entry as the page shows it: who, and a link to the
// object where the app has a page for it.
type auditRow struct {
	*store.AuditEntry
	Actor, ActorLink, Object, ObjectLink string
}

// auditObjectLink is the page of an audit entry's object, or "".
func auditObjectLink(e *store.AuditEntry) string {
	id, err := strconv.ParseInt(e.ObjectID, 10, 64)
	if err != nil || id <= 0 {
		return ""
	}
	switch e.ObjectType {
	case "conversation":
		return fmt.Sprintf("/inbox/conversations/%d", id)
	case "message":
		if e.ConversationID != nil {
			return fmt.Sprintf("/inbox/conversations/%d", *e.ConversationID)
		}
	case "contact":
		return fmt.Sprintf("/contacts/%d", id)
	case "company":
		return fmt.Sprintf("/companies/%d", id)
	case "deal":
		return fmt.Sprintf("/deals/%d", id)
	case "user":
		return fmt.Sprintf("/settings/team#member-%d", id)
	case "team":
		return fmt.Sprintf("/settings/teams/%d", id)
	case "canned_reply":
		return fmt.Sprintf("/settings/canned/%d", id)
	case "invite":
		return "/settings/team"
	case "api_channel", "oauth_state":
		return "/settings/channels"
	case "pipeline":
		return "/pipeline"
	case "privacy_request":
		return fmt.Sprintf("/requests/%d", id)
	}
	return ""
}

// auditList shows the audit log, newest first, a page at a time (keyset
// paging on the entry id); q= keeps entries matching every word in the
// action, the actor or the object.
func (s *Server) auditList(w http.ResponseWriter, r *http.Request) error {
	f := auditFilter(r.URL.Query())
	f.Query = r.URL.Query().Get("q")
	if len(f.Query) > 200 {
		return fieldError("q", "at most 200 characters")
	}
	f.Limit = 50
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && n <= 200 {
		f.Limit = n
	}
	entries, err := s.Audit.Log(r.Context(), f)
	if err != nil {
		return err
	}
	users, names, err := s.members(r.Context())
	if err != nil {
		return err
	}
	rows := make([]auditRow, len(entries))
	for i, e := range entries {
		row := auditRow{AuditEntry: e, Actor: e.ActorKind, ObjectLink: auditObjectLink(e),
			Object: fmt.Sprintf("%s #%s", e.ObjectType, e.ObjectID)}
		if e.ActorID != nil {
			if n, ok := names[*e.ActorID]; ok {
				row.Actor, row.ActorLink = n, fmt.Sprintf("/settings/team#member-%d", *e.ActorID)
			} else {
				row.Actor = fmt.Sprintf("former member #%d", *e.ActorID)
			}
		}
		rows[i] = row
	}
	data := map[string]any{"Rows": rows, "Users": users, "F": f}
	q := r.URL.Query()
	if len(entries) == f.Limit {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("before", strconv.FormatInt(entries[len(entries)-1].ID, 10))
		data["Next"] = "/audit?" + next.Encode()
	}
	if f.Before != 0 {
		first := url.Values{}
		for k, v := range q {
			first[k] = v
		}
		first.Del("before")
		data["First"] = "/audit?" + first.Encode()
	}
	s.render(w, r, "audit", data)
	return nil
}
