package web

import (
	"context"
	"net/http"
	"time"
)

// startSession starts a session for userID, with start (a sign-in, or a
// session after a password change or on joining), and gives the browser its
// cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, userID int64,
	start func(ctx context.Context, userID int64, expires time.Time) (string, error)) error {
	expires := time.Now().Add(s.SessionTTL)
	token, err := start(r.Context(), userID, expires)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
	return nil
}
