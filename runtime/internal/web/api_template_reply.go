package web

import "net/http"

// apiTemplateReply sends an approved template with its variables:
// {"name", "language", "params": [...]}.
func (s *Server) apiTemplateReply(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b struct {
		Name     string   `json:"name"`
		Language string   `json:"language"`
		Params   []string `json:"params"`
	}
	if err := readJSON(w, r, 64<<10, &b); err != nil {
		return err
	}
	tm, body, err := s.templateReply(r.Context(), id, b.Name, b.Language, b.Params)
	if err != nil {
		return err
	}
	m, err := s.Inbox.ReplyTemplate(r.Context(), currentUser(r).ID, id, tm, body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"message": m})
	return nil
}
