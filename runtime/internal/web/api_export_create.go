package web

import "net/http"

// apiExportCreate starts an export of the whole workspace: 202 with the
// export, building; GET /api/v1/exports/{id} says when it is ready. The
// body, if any, is an empty object: an export has no options.
func (s *Server) apiExportCreate(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.exports()
	if err != nil {
		return err
	}
	if r.ContentLength != 0 {
		if err := readJSON(w, r, 1<<10, &struct{}{}); err != nil {
			return err
		}
	}
	e, err := svc.Start(r.Context(), currentUser(r).ID)
	if err != nil {
		return exportError(err)
	}
	w.Header().Set("Location", "/api/v1/exports/"+itoa(e.ID))
	writeJSON(w, http.StatusAccepted, map[string]any{"export": e})
	return nil
}
