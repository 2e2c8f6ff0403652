package web

import (
	"errors"
	"mime"
	"net/http"
	"strconv"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// mediaLink serves the file a media link names (store.CreateMediaLinks),
// without a session: Telnyx fetches an MMS's files from such links. It is
// served under its own type, which the provider needs, but never run in
// this origin: nosniff and a sandbox.
func (s *Server) mediaLink(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	if len(token) != 43 {
		return errStatus(http.StatusNotFound, "not_found", "no such file, or its link expired")
	}
	a, err := s.Inbox.Store.MediaLink(r.Context(), token)
	if errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusNotFound, "not_found", "no such file, or its link expired")
	}
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", a.ContentType)
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": a.Filename}))
	h.Set("Content-Length", strconv.Itoa(len(a.Data)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "private, no-store")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(a.Data)
	return nil
}
