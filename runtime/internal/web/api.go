package web

import (
	"context"
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

type textBody struct {
	Text string `json:"text"`
}

// apiPost adds a reply or a note, from {"text": ...}, to the conversation in the path.
func (s *Server) apiPost(w http.ResponseWriter, r *http.Request, add func(ctx context.Context, actor, conversationID int64, body string) (*store.Message, error)) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b textBody
	if err := readJSON(w, r, 128<<10, &b); err != nil {
		return err
	}
	m, err := add(r.Context(), currentUser(r).ID, id, b.Text)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"message": m})
	return nil
}
