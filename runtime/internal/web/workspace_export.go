package web

import (
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/export"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// The owner's whole-workspace exports (package export): the settings page
// and the JSON API share what is here.

// exports is the export service, or an error when the runtime runs none.
func (s *Server) exports() (*export.Service, error) {
	if s.Exports == nil {
		return nil, errStatus(http.StatusServiceUnavailable, "unavailable", "workspace exports are not available on this server")
	}
	return s.Exports, nil
}

// exportError maps the export service's errors to answers.
func exportError(err error) error {
	switch {
	case errors.Is(err, export.ErrBuilding):
		return errStatus(http.StatusConflict, "building", "%s", err.Error())
	case errors.Is(err, export.ErrNotReady):
		return errStatus(http.StatusConflict, "not_ready", "%s", err.Error())
	}
	return err
}

// serveExport sends the export in the path as a download, with Range and
// If-Range support (http.ServeContent over the export's chunks): a resumed
// download gets the bytes the first one would have, and its ETag is the
// zip's SHA-256. The download is recorded in the audit log.
func (s *Server) serveExport(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.exports()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	d, err := svc.Open(r.Context(), currentUser(r).ID, id)
	if err != nil {
		return exportError(err)
	}
	name := fmt.Sprintf("%s-export-%d-%s.zip", s.Workspace, d.ID, d.ReadyAt.UTC().Format("20060102-150405"))
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("ETag", `"`+d.SHA256+`"`)
	// Everyone's personal data: no cache keeps a copy.
	h.Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, name, *d.ReadyAt, d.Reader)
	return nil
}

// exportView is an export as the settings page shows it.
type exportView struct {
	*store.WorkspaceExport
}

// SizeText is the size in bytes, KB, MB or GB (powers of 1024).
func (e exportView) SizeText() string { return formatBytes(e.Size) }

// Reason says why a failed export failed.
func (e exportView) Reason() string {
	switch e.ErrorCode {
	case export.FailedAbandoned:
		return "the server building it stopped"
	case export.FailedInterrupted:
		return "the server building it was shut down"
	}
	return "building it failed"
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	f, suffix := float64(n)/unit, "KB"
	for _, s := range []string{"MB", "GB", "TB"} {
		if f < unit {
			break
		}
		f, suffix = f/unit, s
	}
	return fmt.Sprintf("%.1f %s", f, suffix)
}
