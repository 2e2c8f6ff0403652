package web

import "net/http"

// conversationTemplate sends an approved template (WhatsApp outside the
// 24-hour window), its variables filled in from the form's param fields.
func (s *Server) conversationTemplate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return badRequest("the form cannot be read")
	}
	tm, body, err := s.templateReply(r.Context(), id, r.PostForm.Get("template"), r.PostForm.Get("language"), r.PostForm["param"])
	if err != nil {
		return err
	}
	if _, err := s.Inbox.ReplyTemplate(r.Context(), currentUser(r).ID, id, tm, body); err != nil {
		return err
	}
	return s.afterWrite(w, r, id)
}
