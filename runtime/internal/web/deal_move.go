package web

import (
	"fmt"
	"net/http"
	"strconv"
)

func (s *Server) dealMove(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	stage, err := strconv.ParseInt(r.PostFormValue("stage"), 10, 64)
	if err != nil {
		return fieldError("stage", "Choose a stage.")
	}
	d, err := s.CRM.MoveDeal(r.Context(), actor(r), id, stage)
	if err != nil {
		return dealFieldError(err)
	}
	return s.seeOther(w, r, fmt.Sprintf("/pipeline?pipeline=%d", d.PipelineID))
}
