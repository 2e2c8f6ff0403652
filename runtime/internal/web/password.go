package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

func (s *Server) passwordForm(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, "password", nil)
	return nil
}

// passwordChange sets a new password and ends the user's other sessions.
func (s *Server) passwordChange(w http.ResponseWriter, r *http.Request) error {
	u := currentUser(r)
	fail := func(msg string) error {
		w.WriteHeader(http.StatusBadRequest)
		s.render(w, r, "password", map[string]any{"Error": msg})
		return nil
	}
	if !auth.CheckPassword(u.PasswordHash, r.PostFormValue("current")) {
		return fail("The current password is wrong.")
	}
	newPw := r.PostFormValue("new")
	if newPw != r.PostFormValue("confirm") {
		return fail("The two new passwords differ.")
	}
	if newPw == r.PostFormValue("current") {
		return fail("Choose a password different from the current one.")
	}
	hash, err := auth.HashPassword(newPw)
	if err != nil {
		return fail("The new password must be 10 to 72 bytes long.")
	}
	if err := s.Store.SetPassword(r.Context(), u.ID, hash); err != nil {
		return err
	}
	if err := s.Store.DeleteUserSessions(r.Context(), u.ID, currentSession(r).hash); err != nil {
		return err
	}
	_ = s.Store.Audit(r.Context(), nil, &u.ID, "user", "password.changed", "user", u.ID)
	http.Redirect(w, r, "/inbox", http.StatusSeeOther)
	return nil
}
