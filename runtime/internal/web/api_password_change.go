package web

import "net/http"

// apiPasswordChange is POST /api/v1/me/password. With the session cookie,
// the answer sets a new one; with an API token, every session has ended.
func (s *Server) apiPasswordChange(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Current      string `json:"current"`
		New          string `json:"new"`
		RevokeTokens bool   `json:"revokeTokens"`
	}
	if err := readJSON(w, r, 4<<10, &in); err != nil {
		return err
	}
	revoked, err := s.changePassword(w, r, in.Current, in.New, in.RevokeTokens)
	if err != nil {
		return err
	}
	if currentSession(r) != nil {
		if err := s.startSession(w, r, currentUser(r).ID, s.Sessions.Start); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessionsEnded": true, "tokensRevoked": revoked})
	return nil
}
