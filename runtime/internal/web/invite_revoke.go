package web

import "net/http"

// inviteRevoke withdraws a pending invite; its link stops working.
func (s *Server) inviteRevoke(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Invites.Revoke(r.Context(), currentUser(r).ID, id); err != nil {
		return err
	}
	if err := s.notify(r, notice{Text: "Invite revoked: its link no longer works."}); err != nil {
		return err
	}
	return s.seeOther(w, r, "/settings/team")
}
