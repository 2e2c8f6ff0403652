package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// maxTokenDays bounds a token's lifetime when it has one: ten years.
const maxTokenDays = 3650

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
