package web

import (
	"net/http"
	"strings"
)

// passwordChange sets a new password from the form, and signs this browser
// in afresh: every session from before the change has ended.
func (s *Server) passwordChange(w http.ResponseWriter, r *http.Request) error {
	fail := func(status int, msg string) error {
		w.WriteHeader(status)
		s.render(w, r, "password", map[string]any{"Error": msg})
		return nil
	}
	if r.PostFormValue("new") != r.PostFormValue("confirm") {
		return fail(http.StatusBadRequest, "The two new passwords differ.")
	}
	_, err := s.changePassword(w, r, r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("revoke_tokens") != "")
	if he := classify(err); err != nil && he.status < 500 {
		return fail(he.status, strings.ToUpper(he.message[:1])+he.message[1:]+".")
	}
	if err != nil {
		return err
	}
	if err := s.startSession(w, r, currentUser(r).ID, s.Sessions.Start); err != nil {
		return err
	}
	http.Redirect(w, r, "/inbox", http.StatusSeeOther)
	return nil
}
