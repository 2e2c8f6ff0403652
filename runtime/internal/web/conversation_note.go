package web

import "net/http"

func (s *Server) conversationNote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := s.Inbox.Note(r.Context(), currentUser(r).ID, id, r.PostFormValue("body")); err != nil {
		return composerError(err, "note")
	}
	return s.afterWrite(w, r, id)
}
