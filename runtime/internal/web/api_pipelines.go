package web

import "net/http"

func (s *Server) apiPipelines(w http.ResponseWriter, r *http.Request) error {
	p, err := s.CRM.Pipelines(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"pipelines": p})
	return nil
}
