package web

import (
	"fmt"
	"net/http"
)

// dealDeleteForm asks to confirm a deal's deletion.
func (s *Server) dealDeleteForm(w http.ResponseWriter, r *http.Request) error {
	d, err := s.pathDeal(r)
	if err != nil {
		return err
	}
	s.render(w, r, "deal_delete", map[string]any{"D": d})
	return nil
}

func (s *Server) dealDelete(w http.ResponseWriter, r *http.Request) error {
	d, err := s.pathDeal(r)
	if err != nil {
		return err
	}
	if err := s.CRM.DeleteDeal(r.Context(), actor(r), d.ID); err != nil {
		return err
	}
	if err := s.notify(r, notice{Text: fmt.Sprintf("Deal “%s” deleted.", d.Title)}); err != nil {
		return err
	}
	return s.seeOther(w, r, fmt.Sprintf("/pipeline?pipeline=%d", d.PipelineID))
}
