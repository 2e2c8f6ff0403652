package web

import "net/http"

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
