// Package oauth is the service for OAuth connections that tenant admins
// start from the settings page (a Microsoft 365 mailbox): the
// authorization-code flow with PKCE (RFC 7636, S256). The state and the
// code verifier stay on the server, in the workspace database, bound to the
// member and the session that started the connection; the browser only
// carries the state through the provider and back. A state is taken once,
// within StateTTL.
package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"

	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// StateTTL is how long an admin has to sign in at the provider and come
// back.
const StateTTL = 10 * time.Minute

// Service keeps the workspace's pending connections.
type Service struct {
	store *store.Store
}

// New returns the service over st.
func New(st *store.Store) *Service { return &Service{store: st} }

// Start begins a connection of integration by userID, from the session
// whose token hashes to sessionHash. It returns the state to send to the
// authorize endpoint and the S256 challenge of the verifier it keeps.
func (s *Service) Start(ctx context.Context, userID int64, sessionHash []byte, integration, redirectURI string) (state, challenge string, err error) {
	state, stateHash := auth.NewToken("")
	verifier, _ := auth.NewToken("") // 43 characters of base64url: RFC 7636's unreserved set
	_, err = s.store.CreateOAuthState(ctx, stateHash, sessionHash, userID, integration, verifier, redirectURI, time.Now().Add(StateTTL))
	if err != nil {
		return "", "", err
	}
	return state, Challenge(verifier), nil
}

// Take returns the connection that state names, with its verifier, once,
// and only to the member and session that started it. Anything else is
// store.ErrNotFound.
func (s *Service) Take(ctx context.Context, state string, sessionHash []byte, userID int64) (*store.OAuthState, error) {
	if state == "" || len(state) > 256 {
		return nil, store.ErrNotFound
	}
	return s.store.TakeOAuthState(ctx, auth.HashToken(state), sessionHash, userID)
}

// Connected records in the audit log that actor connected the account of
// the connection (integration.connected, on the oauth_state row that names
// the Integration).
func (s *Service) Connected(ctx context.Context, actor int64, c *store.OAuthState) error {
	return s.store.Audit(ctx, nil, &actor, "user", "integration.connected", "oauth_state", c.ID)
}

// Challenge is a PKCE verifier's S256 challenge:
// BASE64URL(SHA256(ASCII(verifier))), without padding.
func Challenge(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
