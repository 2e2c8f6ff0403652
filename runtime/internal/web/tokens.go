package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// maxTokenDays bounds a token's lifetime when it has one: ten years.
const maxTokenDays = 3650

// tokenCreate makes a personal API token, shown once; only its hash is kept.
// The form offers a scope and an expiry: never, 30, 90 or 365 days, or the
// end of a chosen day (UTC).
func (s *Server) tokenCreate(w http.ResponseWriter, r *http.Request) error {
	expires, err := formExpiry(r.PostFormValue("expires"), r.PostFormValue("expires_on"), time.Now())
	if err != nil {
		return err
	}
	token, _, err := s.newToken(r, r.PostFormValue("name"), r.PostFormValue("scope"), expires)
	if err != nil {
		return err
	}
	return s.renderSettings(w, r, "Token created.", "API token", token)
}

func (s *Server) tokenRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := s.revokeToken(r); err != nil {
		return err
	}
	return settingsRedirect(w, r, "token-revoked")
}

// formExpiry reads the settings form's expiry choice.
func formExpiry(choice, date string, now time.Time) (*time.Time, error) {
	switch choice {
	case "", "never":
		return nil, nil
	case "30", "90", "365":
		days, _ := strconv.Atoi(choice)
		t := now.AddDate(0, 0, days)
		return &t, nil
	case "date":
		day, err := time.Parse(time.DateOnly, strings.TrimSpace(date))
		if err != nil {
			return nil, badRequest("expires_on: want a date such as %s", now.AddDate(0, 0, 30).Format(time.DateOnly))
		}
		t := day.AddDate(0, 0, 1) // the token works through the chosen day
		return &t, nil
	}
	return nil, badRequest("expires: want never, 30, 90, 365 or date")
}

// tokenRequest is the body of POST /api/v1/tokens.
type tokenRequest struct {
	Name          string     `json:"name"`
	Scope         string     `json:"scope"`
	ExpiresAt     *time.Time `json:"expiresAt"`
	ExpiresInDays *int       `json:"expiresInDays"`
}

// tokenJSON is a token as the API shows it; Token only when just made.
type tokenJSON struct {
	ID         int64      `json:"id"`
	Token      string     `json:"token,omitempty"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scope      string     `json:"scope"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	ExpiresAt  *time.Time `json:"expiresAt"`
	Expired    bool       `json:"expired"`
}

func toTokenJSON(t *store.APIToken) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, Prefix: t.Prefix, Scope: t.Scope, CreatedAt: t.CreatedAt,
		LastUsedAt: t.LastUsedAt, ExpiresAt: t.ExpiresAt, Expired: t.Expired}
}

// apiTokens lists the caller's tokens that are not revoked, expired ones
// included (marked expired).
func (s *Server) apiTokens(w http.ResponseWriter, r *http.Request) error {
	tokens, err := s.Tokens.List(r.Context(), currentUser(r).ID)
	if err != nil {
		return err
	}
	out := make([]tokenJSON, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, toTokenJSON(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
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

func (s *Server) apiTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := s.revokeToken(r); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// newToken checks a token's settings and makes it. A token made with a token
// may not outlive it (a read-only one makes none: it may not POST).
func (s *Server) newToken(r *http.Request, name, scope string, expires *time.Time) (string, *store.APIToken, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 64 {
		return "", nil, badRequest("name: 1 to 64 characters")
	}
	switch scope {
	case "":
		scope = store.ReadWrite
	case store.ReadWrite, store.ReadOnly:
	default:
		return "", nil, badRequest("scope: want %s or %s", store.ReadWrite, store.ReadOnly)
	}
	now := time.Now()
	if expires != nil {
		if !expires.After(now) {
			return "", nil, badRequest("the expiry must be in the future")
		}
		if expires.After(now.AddDate(0, 0, maxTokenDays)) {
			return "", nil, badRequest("the expiry must be within %d days", maxTokenDays)
		}
	}
	if parent := currentToken(r); parent != nil && parent.ExpiresAt != nil && (expires == nil || expires.After(*parent.ExpiresAt)) {
		return "", nil, errStatus(http.StatusForbidden, "outlives_token", "a token cannot make one that expires after it does (%s)", parent.ExpiresAt.UTC().Format(time.RFC3339))
	}
	t, token, err := s.Tokens.Create(r.Context(), currentUser(r).ID, name, scope, expires)
	return token, t, err
}

func (s *Server) revokeToken(r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	return s.Tokens.Revoke(r.Context(), currentUser(r).ID, id)
}
