package web

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func (s *Server) teamCreate(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || utf8.RuneCountInString(name) > 64 {
		return fieldError("name", "1 to 64 characters")
	}
	if _, err := s.Teams.Create(r.Context(), currentUser(r).ID, name); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fieldConflict("name", "there is already a team called %s", name)
		}
		return err
	}
	return s.settingsRedirect(w, r, "team")
}
