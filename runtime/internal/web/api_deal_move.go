package web

import "net/http"

func (s *Server) apiDealMove(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b struct {
		StageID int64 `json:"stageId"`
	}
	if err := readJSON(w, r, 4<<10, &b); err != nil {
		return err
	}
	d, err := s.CRM.MoveDeal(r.Context(), actor(r), id, b.StageID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"deal": d})
	return nil
}
