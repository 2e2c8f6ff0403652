package web

import (
	"net/http"
	"strconv"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) apiContacts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.ContactFilter{Search: q.Get("q"), Tag: q.Get("tag"), Limit: 100}
	f.AfterID, _ = strconv.ParseInt(q.Get("after"), 10, 64)
	rows, err := s.CRM.Contacts(r.Context(), f)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []*store.ContactRow{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"contacts": rows})
	return nil
}
