package web

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// mergeField is one row of the side-by-side merge page: a field only one
// value of which survives, A's and B's values, and which one is chosen.
type mergeField struct {
	Key, Label string // Key is the form's radio name, "f.<field>"
	A, B       string
	Pick       string // "a" or "b"
}

// contactsMergeForm is the manual merge, in three steps on one address:
// without b, pick the second contact (a search); with a and b, choose each
// field's value side by side; with confirm=1, review the merged contact and
// confirm, which posts to /contacts/merge.
func (s *Server) contactsMergeForm(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if ids := q["id"]; len(ids) > 0 && q.Get("a") == "" {
		// The contacts list's checkboxes.
		if len(ids) != 2 {
			return fieldError("id", "Tick exactly two contacts to merge them.")
		}
		q.Set("a", ids[0])
		q.Set("b", ids[1])
	}
	aID, err := optionalID(q.Get("a"), "a")
	if err != nil || aID == nil {
		return fieldError("a", "Choose the first contact to merge.")
	}
	ctx := r.Context()
	a, err := s.CRM.Contact(ctx, *aID)
	if err != nil {
		return err
	}
	bID, err := optionalID(q.Get("b"), "b")
	if err != nil {
		return fieldError("b", "Choose the second contact to merge.")
	}
	if bID == nil || *bID == a.ID {
		// Step 1: who to merge with.
		search := strings.TrimSpace(q.Get("q"))
		var found []*store.ContactRow
		if search != "" {
			if found, err = s.CRM.Contacts(ctx, store.ContactFilter{Search: search, Limit: 20}); err != nil {
				return err
			}
			found = without(found, a.ID)
		}
		s.render(w, r, "merge", map[string]any{"Step": "pick", "A": a, "Q": search, "Found": found})
		return nil
	}
	b, err := s.CRM.Contact(ctx, *bID)
	if err != nil {
		return err
	}
	keep := "a"
	if q.Get("keep") == "b" {
		keep = "b"
	}
	fields, err := s.mergeFields(r, a, b, q)
	if err != nil {
		return err
	}
	data := map[string]any{"Step": "choose", "A": a, "B": b, "Keep": keep, "Fields": fields,
		"Emails": store.MergeValues(a.Emails, b.Emails), "Phones": store.MergeValues(a.Phones, b.Phones), "Tags": store.MergeValues(a.Tags, b.Tags),
		"Restricted": a.ProcessingRestricted || b.ProcessingRestricted}
	if q.Get("confirm") == "1" {
		keepC, dropC := a, b
		if keep == "b" {
			keepC, dropC = b, a
		}
		var fromDrop []string
		for _, f := range fields {
			if f.Pick != keep {
				fromDrop = append(fromDrop, strings.TrimPrefix(f.Key, "f."))
			}
		}
		data["Step"], data["KeepC"], data["DropC"], data["FromDrop"] = "confirm", keepC, dropC, fromDrop
		back := url.Values{"a": {q.Get("a")}, "b": {q.Get("b")}, "keep": {keep}}
		for _, f := range fields {
			back.Set(f.Key, f.Pick)
		}
		data["Back"] = "/contacts/merge?" + back.Encode()
	}
	s.render(w, r, "merge", data)
	return nil
}

func without(rows []*store.ContactRow, id int64) []*store.ContactRow {
	out := rows[:0]
	for _, c := range rows {
		if c.ID != id {
			out = append(out, c)
		}
	}
	return out
}

// mergeFields lists the fields a and b hold different values of, each with
// the value picked in q ("f.<field>" = "a" or "b"), else a's unless it is
// empty.
func (s *Server) mergeFields(r *http.Request, a, b *store.Contact, q url.Values) ([]mergeField, error) {
	company := func(id *int64) (string, error) {
		if id == nil {
			return "", nil
		}
		co, err := s.CRM.Company(r.Context(), *id)
		if err != nil {
			return "", err
		}
		return co.Name, nil
	}
	ca, err := company(a.CompanyID)
	if err != nil {
		return nil, err
	}
	cb, err := company(b.CompanyID)
	if err != nil {
		return nil, err
	}
	all := []mergeField{{Key: "f.name", Label: "Name", A: a.Name, B: b.Name}, {Key: "f.company", Label: "Company", A: ca, B: cb},
		{Key: "f.address", Label: "Address", A: a.Address, B: b.Address}}
	var keys []string
	for k := range a.Custom {
		keys = append(keys, k)
	}
	for k := range b.Custom {
		if _, ok := a.Custom[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		all = append(all, mergeField{Key: "f.custom." + k, Label: k, A: a.Custom[k], B: b.Custom[k]})
	}
	var out []mergeField
	for _, f := range all {
		if f.A == f.B {
			continue
		}
		switch q.Get(f.Key) {
		case "a", "b":
			f.Pick = q.Get(f.Key)
		default:
			f.Pick = "a"
			if f.A == "" {
				f.Pick = "b"
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// mergeFromDrop reads the confirmed merge's choices: "from" names each
// field whose value comes from the dropped contact.
func mergeFromDrop(r *http.Request) []string {
	var out []string
	for _, f := range r.PostForm["from"] {
		if f = strings.TrimSpace(f); f != "" && len(out) < 200 {
			out = append(out, f)
		}
	}
	return out
}

// atoi64 reads a positive id, or 0.
func atoi64(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
