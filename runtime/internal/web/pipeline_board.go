package web

import (
	"net/http"
	"strconv"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

func (s *Server) pipelineBoard(w http.ResponseWriter, r *http.Request) error {
	pipelines, err := s.CRM.Pipelines(r.Context())
	if err != nil {
		return err
	}
	if len(pipelines) == 0 {
		return errStatus(http.StatusNotFound, "not_found", "no pipeline yet")
	}
	id := pipelines[0].ID
	if v, err := strconv.ParseInt(r.URL.Query().Get("pipeline"), 10, 64); err == nil {
		id = v
	}
	board, err := s.CRM.Board(r.Context(), id)
	if err != nil {
		return err
	}
	s.render(w, r, "pipeline", map[string]any{"Board": board, "Pipelines": pipelines, "CanWrite": auth.Role(currentUser(r).Role).AtLeast(auth.Agent)})
	return nil
}
