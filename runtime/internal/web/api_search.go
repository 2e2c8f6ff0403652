package web

import (
	"net/http"
)

// apiSearch serves GET /api/v1/search?q=: the groups of the search page
// (conversations, messages with a snippet, contacts), limit of each
// (default 10), group= for one of them, before= to page messages. more
// says which groups have more.
func (s *Server) apiSearch(w http.ResponseWriter, r *http.Request) error {
	text, o, err := searchParams(r, searchAPILimit)
	if err != nil {
		return err
	}
	if text == "" {
		return fieldError("q", "q: type what to search for")
	}
	res, err := s.Inbox.Search(r.Context(), text, o)
	if err != nil {
		return searchError(err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
