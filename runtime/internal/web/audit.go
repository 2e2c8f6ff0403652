package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func auditFilter(q url.Values) store.AuditFilter {
	f := store.AuditFilter{Action: q.Get("action"), ObjectType: q.Get("object_type"), ObjectID: q.Get("object_id"), Limit: 100}
	f.ActorID, _ = strconv.ParseInt(q.Get("actor"), 10, 64)
	f.Before, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	return f
}

func (s *Server) auditList(w http.ResponseWriter, r *http.Request) error {
	f := auditFilter(r.URL.Query())
	entries, err := s.Audit.Log(r.Context(), f)
	if err != nil {
		return err
	}
	users, names, err := s.team(r.Context())
	if err != nil {
		return err
	}
	data := map[string]any{"Entries": entries, "Users": users, "Names": names, "F": f}
	if len(entries) == f.Limit {
		q := r.URL.Query()
		q.Set("before", strconv.FormatInt(entries[len(entries)-1].ID, 10))
		data["Next"] = "/audit?" + q.Encode()
	}
	s.render(w, r, "audit", data)
	return nil
}

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request) error {
	entries, err := s.Audit.Log(r.Context(), auditFilter(r.URL.Query()))
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []*store.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
	return nil
}
