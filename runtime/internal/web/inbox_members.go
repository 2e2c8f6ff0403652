package web

import "net/http"

// inboxMembers serves the members a note may mention, for the composer's
// "@" autocomplete: each with the handle to insert.
func (s *Server) inboxMembers(w http.ResponseWriter, r *http.Request) error {
	prefix := r.URL.Query().Get("prefix")
	if len(prefix) > 100 {
		prefix = prefix[:100]
	}
	list, err := s.Inbox.MentionCandidates(r.Context(), prefix)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}
