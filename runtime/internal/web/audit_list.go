package web

import (
	"net/http"
	"strconv"
)

func (s *Server) auditList(w http.ResponseWriter, r *http.Request) error {
	f := auditFilter(r.URL.Query())
	entries, err := s.Audit.Log(r.Context(), f)
	if err != nil {
		return err
	}
	users, names, err := s.members(r.Context())
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
