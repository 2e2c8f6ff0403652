package web

import (
	"fmt"
	"net/http"
)

// sessionsEndOthers signs the member out of every browser but this one.
func (s *Server) sessionsEndOthers(w http.ResponseWriter, r *http.Request) error {
	se := currentSession(r)
	if se == nil {
		return badRequest("only a signed-in browser can sign out its other sessions")
	}
	n, err := s.Sessions.EndOthers(r.Context(), currentUser(r).ID, se.hash)
	if err != nil {
		return err
	}
	text := "No other session was signed in."
	if n == 1 {
		text = "Signed out 1 other session."
	} else if n > 1 {
		text = fmt.Sprintf("Signed out %d other sessions.", n)
	}
	if err := s.notify(r, notice{Text: text}); err != nil {
		return err
	}
	return s.seeOther(w, r, "/settings/security")
}
