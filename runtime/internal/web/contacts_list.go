package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// sortColumn is a sortable column header of the contacts list.
type sortColumn struct {
	Label, URL string
	Dir        string // "ascending", "descending" or "" (aria-sort)
}

func (s *Server) contactsList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.ContactFilter{Search: strings.TrimSpace(q.Get("q")), Tag: strings.TrimSpace(q.Get("tag")), Limit: 100,
		Sort: q.Get("sort"), Desc: q.Get("dir") == "desc"}
	if _, ok := store.ContactSorts[f.Sort]; !ok {
		f.Sort, f.Desc = "", false
	}
	if f.Sort == "" {
		f.AfterID = atoi64(q.Get("after"))
	} else {
		f.After = q.Get("after")
	}
	rows, err := s.CRM.Contacts(r.Context(), f)
	if err != nil {
		return err
	}
	role := auth.Role(currentUser(r).Role)
	// list is the list's address with its search, tag and order, and set's changes.
	list := func(set map[string]string) string {
		v := url.Values{}
		for k, val := range map[string]string{"q": f.Search, "tag": f.Tag, "sort": f.Sort} {
			if val != "" {
				v.Set(k, val)
			}
		}
		if f.Desc {
			v.Set("dir", "desc")
		}
		for k, val := range set {
			if val == "" {
				v.Del(k)
			} else {
				v.Set(k, val)
			}
		}
		if len(v) == 0 {
			return "/contacts"
		}
		return "/contacts?" + v.Encode()
	}
	var cols []sortColumn
	for _, c := range []struct{ key, label string }{{"name", "Name"}, {"email", "Email"}, {"company", "Company"}, {"created", "Created"}, {"activity", "Last activity"}} {
		col := sortColumn{Label: c.label}
		dir := ""
		// Dates sort newest first on the first click; text from A.
		if c.key == "created" || c.key == "activity" {
			dir = "desc"
		}
		if f.Sort == c.key {
			col.Dir = "ascending"
			dir = "desc"
			if f.Desc {
				col.Dir, dir = "descending", ""
			}
		}
		col.URL = list(map[string]string{"sort": c.key, "dir": dir})
		cols = append(cols, col)
	}
	data := map[string]any{"Contacts": rows, "Q": f.Search, "Tag": f.Tag, "Sort": f.Sort, "Dir": q.Get("dir"), "Columns": cols,
		"CanWrite": role.AtLeast(auth.Agent), "CanAdmin": role.AtLeast(auth.Admin)}
	if len(rows) == f.Limit {
		last := rows[len(rows)-1]
		after := last.Cursor
		if f.Sort == "" {
			after = itoa(last.ID)
		}
		data["Next"] = list(map[string]string{"after": after})
	}
	// Admins, who may merge, see the possible duplicates under the first page (loaded after it).
	data["ShowDuplicates"] = role.AtLeast(auth.Admin) && f.Search == "" && f.Tag == "" && q.Get("after") == ""
	s.render(w, r, "contacts", data)
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
