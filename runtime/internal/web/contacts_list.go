package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) contactsList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.ContactFilter{Search: strings.TrimSpace(q.Get("q")), Tag: q.Get("tag"), Limit: 100}
	f.AfterID, _ = strconv.ParseInt(q.Get("after"), 10, 64)
	rows, err := s.CRM.Contacts(r.Context(), f)
	if err != nil {
		return err
	}
	data := map[string]any{"Contacts": rows, "Q": f.Search, "Tag": f.Tag, "CanWrite": auth.Role(currentUser(r).Role).AtLeast(auth.Agent),
		"CanAdmin": auth.Role(currentUser(r).Role).AtLeast(auth.Admin), "Places": s.placesAdapter() != nil}
	if len(rows) == f.Limit {
		data["Next"] = fmt.Sprintf("/contacts?q=%s&tag=%s&after=%d", f.Search, f.Tag, rows[len(rows)-1].ID)
	}
	if data["CanAdmin"] == true {
		if data["Duplicates"], err = s.CRM.Duplicates(r.Context(), 20); err != nil {
			return err
		}
	}
	s.render(w, r, "contacts", data)
	return nil
}
