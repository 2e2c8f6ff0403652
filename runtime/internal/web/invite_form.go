package web

import (
	"errors"
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) inviteForm(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.openInvite(r, r.PathValue("token"))
	if err != nil {
		return err
	}
	s.render(w, r, "invite", map[string]any{"Invite": inv, "Token": r.PathValue("token")})
	return nil
}

// openInvite returns the open invite of a link's token, with a 404 that says
// why for one that is not (any more).
func (s *Server) openInvite(r *http.Request, token string) (*store.Invite, error) {
	inv, err := s.Invites.ByToken(r.Context(), token)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errStatus(http.StatusNotFound, "not_found", "this invite link is invalid, used or expired; ask for a new one")
	}
	return inv, err
}
