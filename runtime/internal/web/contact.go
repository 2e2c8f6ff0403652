package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// pathContact returns the contact whose id is in the path.
func (s *Server) pathContact(r *http.Request) (*store.Contact, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.CRM.Contact(r.Context(), id)
}
