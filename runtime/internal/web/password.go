package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

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
