package web

import "net/http"

// placesDetails proxies the address of the suggestion picked, which ends
// the field's session: ?id= is the place id, ?session= the session token
// its suggestions came with.
func (s *Server) placesDetails(w http.ResponseWriter, r *http.Request) error {
	a, ok := s.placesLookup(w, r)
	if !ok {
		return nil
	}
	q := r.URL.Query()
	p, err := a.Details(r.Context(), q.Get("id"), q.Get("session"))
	if err != nil {
		s.placesError(w, r, err)
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"address": p.Address})
	return nil
}
