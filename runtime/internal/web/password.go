package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

func (s *Server) passwordForm(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, "password", nil)
	return nil
}

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

// changePassword checks the current password, sets the new one and ends
// every session of the member, the current one included, so that whoever
// held a session with the old password holds nothing now. With
// revokeTokens it also revokes all the member's API tokens, and says how
// many. Wrong current passwords count against passwordGuesses, so a stolen
// session cannot be used to find the password.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, current, newPw string, revokeTokens bool) (int64, error) {
	ctx := r.Context()
	u := currentUser(r)
	if current == "" || newPw == "" {
		return 0, badRequest("give the current password and a new one")
	}
	key := strconv.FormatInt(u.ID, 10)
	attempt, ok, wait, err := s.passwordByUser.Begin(ctx, key)
	if err != nil {
		return 0, err
	}
	if !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		return 0, errStatus(http.StatusTooManyRequests, "too_many_attempts", "too many wrong passwords; try again in %d minutes", int(wait.Minutes())+1)
	}
	if !auth.CheckPassword(u.PasswordHash, current) {
		return 0, errStatus(http.StatusBadRequest, "wrong_password", "the current password is wrong")
	}
	if err := attempt.Succeeded(ctx); err != nil {
		return 0, err
	}
	if err := s.passwordByUser.Reset(ctx, key); err != nil {
		return 0, err
	}
	if newPw == current {
		return 0, badRequest("choose a password different from the current one")
	}
	hash, err := auth.HashPassword(newPw)
	if err != nil {
		return 0, err
	}
	return s.Users.ChangePassword(ctx, u.ID, hash, revokeTokens)
}
