package web

import (
	"net/http"
	"time"
)

// apiMeEmail starts a change of the member's own email, as the profile
// page does (profileEmail): the current password, a confirmation link
// mailed to the new address, and no change until it is opened.
func (s *Server) apiMeEmail(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := readJSON(w, r, 4<<10, &b); err != nil {
		return err
	}
	c, err := s.startEmailChange(w, r, b.Email, b.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"emailChange": map[string]any{"newEmail": c.NewEmail, "expiresAt": c.ExpiresAt.UTC().Format(time.RFC3339)}})
	return nil
}

// apiMeEmailCancel drops the member's pending email change, if any.
func (s *Server) apiMeEmailCancel(w http.ResponseWriter, r *http.Request) error {
	if err := s.Users.CancelEmailChange(r.Context(), currentUser(r).ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
