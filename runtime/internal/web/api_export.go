package web

import "net/http"

// apiExport returns one export: its status, and once ready its size,
// SHA-256 and rows per file.
func (s *Server) apiExport(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.exports()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	e, err := svc.Get(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"export": e})
	return nil
}
