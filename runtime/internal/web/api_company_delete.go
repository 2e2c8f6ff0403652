package web

import "net/http"

// apiCompanyDelete deletes a company; its contacts and deals stay, unlinked.
func (s *Server) apiCompanyDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.CRM.DeleteCompany(r.Context(), actor(r), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
