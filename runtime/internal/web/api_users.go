package web

import "net/http"

func (s *Server) apiUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.Users.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(users))
	for _, u := range users {
		out = append(out, map[string]any{"id": u.ID, "email": u.Email, "name": u.Name, "role": u.Role, "disabled": u.Disabled})
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}
