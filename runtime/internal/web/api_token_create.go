package web

import (
	"net/http"
	"time"
)

// tokenRequest is the body of POST /api/v1/tokens.
type tokenRequest struct {
	Name          string     `json:"name"`
	Scope         string     `json:"scope"`
	ExpiresAt     *time.Time `json:"expiresAt"`
	ExpiresInDays *int       `json:"expiresInDays"`
}

// apiTokenCreate makes a token for the caller; the answer is the only time
// the token is shown.
func (s *Server) apiTokenCreate(w http.ResponseWriter, r *http.Request) error {
	var in tokenRequest
	if err := readJSON(w, r, 4<<10, &in); err != nil {
		return err
	}
	expires := in.ExpiresAt
	switch {
	case in.ExpiresAt != nil && in.ExpiresInDays != nil:
		return badRequest("give expiresAt or expiresInDays, not both")
	case in.ExpiresInDays != nil:
		if *in.ExpiresInDays < 1 || *in.ExpiresInDays > maxTokenDays {
			return badRequest("expiresInDays: 1 to %d", maxTokenDays)
		}
		t := time.Now().AddDate(0, 0, *in.ExpiresInDays)
		expires = &t
	}
	token, t, err := s.newToken(r, in.Name, in.Scope, expires)
	if err != nil {
		return err
	}
	out := toTokenJSON(t)
	out.Token = token
	writeJSON(w, http.StatusCreated, out)
	return nil
}
