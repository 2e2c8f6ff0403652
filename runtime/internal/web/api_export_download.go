package web

import "net/http"

// apiExportDownload sends a ready export (see serveExport).
func (s *Server) apiExportDownload(w http.ResponseWriter, r *http.Request) error {
	return s.serveExport(w, r)
}
