package web

import (
	"fmt"
	"net/http"
	"time"
)

func (s *Server) contactsExport(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="contacts-%s.csv"`, time.Now().UTC().Format("2006-01-02")))
	return s.CRM.ExportContacts(r.Context(), actor(r), w)
}
