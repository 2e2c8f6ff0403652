package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/channels/microsoft"
	"github.com/switchboard-dev/switchboard/runtime/internal/integrations"
)

// oauthConnector is an adapter whose account a tenant admin connects with
// OAuth (microsoft.Adapter).
type oauthConnector interface {
	// AuthorizeURL is the provider's authorize endpoint for one attempt.
	AuthorizeURL(redirectURI, state, codeChallenge string) string
	// Connect redeems the code the provider sent back, with the PKCE
	// verifier, and stores the tokens; it returns the account that
	// consented. Its errors hold no secret.
	Connect(ctx context.Context, code, codeVerifier, redirectURI string) (account string, err error)
}

// integrationConnect starts connecting an Integration's account: GET
// /settings/integrations/{name}/connect (the settings page's Connect
// button and the banner's Reconnect). The state and the PKCE verifier are
// kept server-side for this session; the browser goes to the provider with
// the state and the verifier's challenge only.
func (s *Server) integrationConnect(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	c, err := s.connector(name)
	if err != nil {
		return err
	}
	if s.OAuth == nil {
		return errStatus(http.StatusNotFound, "not_found", "this runtime does not connect accounts")
	}
	redirectURI := strings.TrimRight(s.PublicURL, "/") + microsoft.CallbackPath
	state, challenge, err := s.OAuth.Start(r.Context(), currentUser(r).ID, currentSession(r).hash, name, redirectURI)
	if err != nil {
		return err
	}
	to := c.AuthorizeURL(redirectURI, state, challenge)
	if to == "" {
		return errStatus(http.StatusConflict, "closed", "the integration %q was reopened meanwhile; try again", name)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// connector finds the open adapter of an Integration whose account is
// connected with OAuth.
func (s *Server) connector(name string) (oauthConnector, error) {
	if s.Integrations == nil {
		return nil, errStatus(http.StatusNotFound, "not_found", "this runtime runs no integrations")
	}
	a, ok := s.Integrations.Get(name)
	if !ok {
		return nil, errStatus(http.StatusNotFound, "not_found",
			"there is no open integration %q: check its Integration with your platform team", name)
	}
	c, ok := a.(oauthConnector)
	if !ok {
		return nil, errStatus(http.StatusBadRequest, "invalid", "the integration %q has no account to connect here", name)
	}
	return c, nil
}

// Mailbox is a microsoft Integration on the settings page.
type Mailbox struct {
	integrations.Status
	// Address is the configured mailbox; Account who connected it.
	Address, Account string
}

// mailboxes lists the microsoft Integrations with their state.
func (s *Server) mailboxes() []Mailbox {
	if s.Integrations == nil {
		return nil
	}
	var out []Mailbox
	for _, st := range s.Integrations.Statuses() {
		if st.Type != microsoft.Type {
			continue
		}
		m := Mailbox{Status: st}
		if a, ok := s.Integrations.Get(st.Name); ok {
			if mb, ok := a.(interface{ Mailbox() string }); ok {
				m.Address = mb.Mailbox()
			}
			if ac, ok := a.(interface{ Account() string }); ok {
				m.Account = ac.Account()
			}
		}
		out = append(out, m)
	}
	return out
}
