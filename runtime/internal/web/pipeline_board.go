package web

import (
	"net/http"
	"strconv"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

func (s *Server) pipelineBoard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	pipelines, err := s.CRM.Pipelines(ctx)
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
	board, err := s.CRM.Board(ctx, id)
	if err != nil {
		return err
	}
	canWrite := auth.Role(currentUser(r).Role).AtLeast(auth.Agent)
	data := map[string]any{"Board": board, "Pipelines": pipelines, "CanWrite": canWrite}
	if canWrite {
		// The new-deal form: a company page's "New deal" link picks its company (?new=<id>).
		if data["Companies"], err = s.CRM.Companies(ctx, "", 500); err != nil {
			return err
		}
		data["NewCompany"] = atoi64(r.URL.Query().Get("new"))
	}
	s.render(w, r, "pipeline", data)
	return nil
}
