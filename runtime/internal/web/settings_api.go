package web

import "net/http"

// settingsAPI shows the member's own API tokens.
func (s *Server) settingsAPI(w http.ResponseWriter, r *http.Request) error {
	data := settingsData(r, "api")
	var err error
	if data["Tokens"], err = s.Tokens.List(r.Context(), currentUser(r).ID); err != nil {
		return err
	}
	s.render(w, r, "settings_api", data)
	return nil
}
