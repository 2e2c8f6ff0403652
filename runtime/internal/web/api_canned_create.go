package web

import (
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) apiCannedCreate(w http.ResponseWriter, r *http.Request) error {
	var c store.CannedReply
	if err := readJSON(w, r, 64<<10, &c); err != nil {
		return err
	}
	if strings.TrimSpace(c.Title) == "" || strings.TrimSpace(c.Body) == "" {
		return badRequest("title and body are required")
	}
	out, err := s.Canned.Create(r.Context(), currentUser(r).ID, &store.CannedReply{Shortcut: c.Shortcut, Title: c.Title, Body: c.Body})
	if err != nil {
		return cannedError(err, c.Shortcut)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"cannedReply": out})
	return nil
}
