package web

import "net/http"

// workspaceExportDownload sends a ready export (see serveExport).
func (s *Server) workspaceExportDownload(w http.ResponseWriter, r *http.Request) error {
	return s.serveExport(w, r)
}
