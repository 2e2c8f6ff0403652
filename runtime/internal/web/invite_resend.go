package web

import (
	"net/http"
	"strings"
	"time"
)

// inviteResend replaces a pending invite's link with a new one, shown once:
// the server keeps only a hash of a link, so it cannot show the old one
// again, and the old one stops working.
func (s *Server) inviteResend(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	inv, token, err := s.Invites.Reissue(r.Context(), currentUser(r).ID, id, time.Now().Add(s.InviteTTL))
	if err != nil {
		return err
	}
	link := strings.TrimRight(s.PublicURL, "/") + "/invite/" + token
	if err := s.notify(r, notice{Text: "New invite link for " + inv.Email + "; the previous link no longer works. It expires " +
		localtime(s.location(r), inv.ExpiresAt) + ".", SecretLabel: "Invite link", Secret: link}); err != nil {
		return err
	}
	return s.seeOther(w, r, "/settings/team")
}
