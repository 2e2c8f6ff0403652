package web

import "net/http"

// workspaceExportCreate starts an export of the whole workspace.
func (s *Server) workspaceExportCreate(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.exports()
	if err != nil {
		return err
	}
	if _, err := svc.Start(r.Context(), currentUser(r).ID); err != nil {
		return exportError(err)
	}
	if err := s.notify(r, notice{Text: "Export started. It is built in the background: reload this page to see when it is ready."}); err != nil {
		return err
	}
	return s.seeOther(w, r, "/settings/export")
}
