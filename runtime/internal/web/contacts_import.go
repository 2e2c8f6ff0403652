package web

import "net/http"

// contactsImport reads a CSV upload and shows the per-row report.
func (s *Server) contactsImport(w http.ResponseWriter, r *http.Request) error {
	f, _, err := r.FormFile("file")
	if err != nil {
		return badRequest("file: choose a CSV file of at most 10 MB")
	}
	defer f.Close()
	rep, err := s.CRM.ImportContacts(r.Context(), actor(r), f)
	if err != nil {
		return err
	}
	s.render(w, r, "import", map[string]any{"R": rep})
	return nil
}
