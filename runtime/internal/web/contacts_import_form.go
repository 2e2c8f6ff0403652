package web

import "net/http"

// contactsImportForm is the page to upload a CSV file of contacts; the
// report of an upload shows on it.
func (s *Server) contactsImportForm(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, "import", nil)
	return nil
}
