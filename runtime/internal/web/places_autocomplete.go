package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/switchboard-dev/switchboard/runtime/internal/channels/places"
)

// placesAutocomplete proxies address suggestions from the googlePlaces
// Integration: the browser never sees its key. ?q= is what was typed and
// ?session= the address field's session token (a UUID the browser made).
func (s *Server) placesAutocomplete(w http.ResponseWriter, r *http.Request) error {
	a, ok := s.placesLookup(w, r)
	if !ok {
		return nil
	}
	q := r.URL.Query()
	list, err := a.Autocomplete(r.Context(), q.Get("q"), q.Get("session"))
	if err != nil {
		s.placesError(w, r, err)
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"suggestions": list})
	return nil
}

// placesLookup finds the googlePlaces adapter and takes one request from
// the member's allowance, answering for itself when it cannot go on.
func (s *Server) placesLookup(w http.ResponseWriter, r *http.Request) (*places.Adapter, bool) {
	a := s.placesAdapter()
	if a == nil {
		writeJSON(w, http.StatusNotFound, placesAnswer("unavailable", "address lookup unavailable"))
		return nil, false
	}
	if !a.Allow(strconv.FormatInt(currentUser(r).ID, 10)) {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, placesAnswer("rate_limited", "too many address lookups; slow down"))
		return nil, false
	}
	return a, true
}

// placesError answers a failed lookup without Google's words: the
// Integration's status has them, for admins.
func (s *Server) placesError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, places.ErrInvalid) {
		writeJSON(w, http.StatusBadRequest, placesAnswer("invalid", "invalid session or place"))
		return
	}
	if r.Context().Err() == nil {
		s.Log.Warn("address lookup failed", "error", err.Error())
	}
	writeJSON(w, http.StatusServiceUnavailable, placesAnswer("unavailable", "address lookup unavailable"))
}

func placesAnswer(code, message string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": message}}
}
