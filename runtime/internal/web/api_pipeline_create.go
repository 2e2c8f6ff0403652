package web

import "net/http"

func (s *Server) apiPipelineCreate(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Name   string   `json:"name"`
		Stages []string `json:"stages"`
	}
	if err := readJSON(w, r, 16<<10, &b); err != nil {
		return err
	}
	p, err := s.CRM.CreatePipeline(r.Context(), actor(r), b.Name, b.Stages)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"pipeline": p})
	return nil
}
