package web

import (
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func splitList(v string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == '\n' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// contactFromForm reads the editable fields of a contact.
func (s *Server) contactFromForm(r *http.Request, c *store.Contact) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("the form does not parse")
	}
	c.Name = strings.TrimSpace(r.PostFormValue("name"))
	c.Emails = splitList(r.PostFormValue("emails"))
	c.Phones = splitList(r.PostFormValue("phones"))
	c.Tags = strings.Fields(strings.ReplaceAll(r.PostFormValue("tags"), ",", " "))
	if r.PostForm.Has("address") { // a form without the field leaves the address as it is
		c.Address = r.PostFormValue("address")
	}
	if r.PostForm.Has("custom") {
		var err error
		if c.Custom, err = customFromForm(r.PostFormValue("custom")); err != nil {
			return err
		}
	}
	c.CompanyID = nil
	if name := strings.TrimSpace(r.PostFormValue("company")); name != "" {
		co, err := s.CRM.EnsureCompany(r.Context(), actor(r), name)
		if err != nil {
			return err
		}
		c.CompanyID = &co.ID
	}
	return nil
}

// customFromForm reads custom attributes typed as key=value, one per line.
func customFromForm(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, line := range strings.Split(v, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if k = strings.TrimSpace(k); ok && k != "" {
			out[k] = strings.TrimSpace(v)
		} else if strings.TrimSpace(line) != "" {
			return nil, badRequest("custom: one key=value per line")
		}
	}
	return out, nil
}
