package web

import "net/http"

func (s *Server) tokenRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := s.revokeToken(r); err != nil {
		return err
	}
	return s.settingsRedirect(w, r, "token-revoked")
}
