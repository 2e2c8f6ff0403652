package web

import "net/http"

// profileEmailCancel drops the signed-in member's pending email change: its
// confirmation link stops working.
func (s *Server) profileEmailCancel(w http.ResponseWriter, r *http.Request) error {
	if err := s.Users.CancelEmailChange(r.Context(), currentUser(r).ID); err != nil {
		return err
	}
	if err := s.notify(r, notice{Text: "The email change was cancelled."}); err != nil {
		return err
	}
	return s.seeOther(w, r, "/settings/profile")
}
