package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// contactsImport reads a CSV upload and shows the per-row report: from the
// import page's script (htmx) as a fragment of that page, so that the
// address stays the page's own and a reload does not post the file again;
// from a plain post, as the whole page.
func (s *Server) contactsImport(w http.ResponseWriter, r *http.Request) error {
	f, _, err := r.FormFile("file")
	if err != nil {
		return fieldError("file", "Choose a CSV file of at most 10 MB.")
	}
	defer f.Close()
	rep, err := s.CRM.ImportContacts(r.Context(), actor(r), f)
	if err != nil {
		if errors.Is(err, store.ErrInvalid) { // about the file as a whole
			return fieldError("file", "%s", upperFirst(strings.TrimPrefix(err.Error(), store.ErrInvalid.Error()+": ")))
		}
		return err
	}
	if r.Header.Get("HX-Request") == "true" {
		q := r.URL.Query()
		q.Set("fragment", "report")
		r.URL.RawQuery = q.Encode()
	}
	s.render(w, r, "import", map[string]any{"R": rep})
	return nil
}
