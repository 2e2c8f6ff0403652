package web

import "net/http"

func (s *Server) apiBoard(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	b, err := s.CRM.Board(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}
