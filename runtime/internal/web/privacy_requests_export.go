package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

// attachmentWriter sends its headers with the first byte, so that an error
// before any (no such subject) is answered as an error, not as a file.
type attachmentWriter struct {
	w     http.ResponseWriter
	name  string
	wrote bool
}

func (a *attachmentWriter) Write(b []byte) (int, error) {
	if !a.wrote {
		a.wrote = true
		h := a.w.Header()
		h.Set("Content-Type", "application/zip")
		h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", a.name))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
	}
	return a.w.Write(b)
}

// requestExport streams the subject's bundle (privacy.ExportContact or
// ExportMember: JSON and attachments in a zip) of a pending access or
// portability request, and records the download's counts and time as the
// request's evidence, with an audit entry. The request completes when an
// admin marks it done.
func (s *Server) requestExport(w http.ResponseWriter, r *http.Request) error {
	req, err := s.pathRequest(r)
	if err != nil {
		return err
	}
	if req.Kind != store.RequestAccess && req.Kind != store.RequestPortability {
		return errStatus(http.StatusConflict, "wrong_kind", "Only access and portability requests have a bundle to download.")
	}
	if !req.Pending() {
		return errClosed(req)
	}
	if req.SubjectID == nil {
		return errStatus(http.StatusConflict, "no_subject", "The request names no subject.")
	}
	ctx := r.Context()
	aw := &attachmentWriter{w: w, name: fmt.Sprintf("request-%d-%s-%d.zip", req.ID, req.SubjectType, *req.SubjectID)}
	export := privacy.ExportContact
	if req.SubjectType == store.SubjectMember {
		export = privacy.ExportMember
	}
	counts, err := export(ctx, s.CRM.Store.Pool, *req.SubjectID, aw)
	if err != nil {
		if !aw.wrote {
			if errors.Is(err, privacy.ErrNotFound) {
				return errStatus(http.StatusNotFound, "not_found", "The %s no longer exists: there is nothing to export.", req.SubjectType)
			}
			return err
		}
		// The zip is cut short, which the browser reports; the status is sent.
		s.Log.Error("exporting a rights request's bundle failed", "request", req.ID, "error", err.Error())
		return nil
	}
	// The download is done: record it even if the browser went away since.
	ctx = context.WithoutCancel(ctx)
	st := s.CRM.Store
	ev := store.Evidence{Action: "exported", Counts: map[string]int64(counts), At: time.Now()}
	if err := st.Transact(ctx, func(tx pgx.Tx) error {
		if err := st.SetPrivacyRequestEvidence(ctx, tx, req.ID, ev); err != nil {
			return err
		}
		return st.Audit(ctx, tx, actor(r), "user", "privacy_request.exported", "privacy_request", req.ID)
	}); err != nil {
		s.Log.Error("recording a rights request's download failed", "request", req.ID, "error", err.Error())
	}
	return nil
}
