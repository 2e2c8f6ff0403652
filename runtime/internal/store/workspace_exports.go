package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Workspace export states.
const (
	ExportBuilding = "building"
	ExportReady    = "ready"
	ExportFailed   = "failed"
)

// WorkspaceExport is one of the owner's whole-workspace exports: its state
// and what it holds, never the data itself (that is in its chunks).
type WorkspaceExport struct {
	ID          int64      `json:"id"`
	Status      string     `json:"status"` // building, ready or failed
	RequestedBy *int64     `json:"requestedBy,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	ReadyAt     *time.Time `json:"readyAt,omitempty"`
	ExpiresAt   time.Time  `json:"expiresAt"`
	// Size is the zip's length in bytes, once ready.
	Size      int64 `json:"size"`
	ChunkSize int   `json:"-"`
	// SHA256 is the zip's hex SHA-256, once ready: the download's ETag.
	SHA256 string `json:"sha256,omitempty"`
	// Counts is the rows exported per table, once ready.
	Counts map[string]int64 `json:"counts"`
	// ErrorCode says why a failed export failed: build, abandoned or interrupted.
	ErrorCode string `json:"errorCode,omitempty"`
}

const workspaceExportColumns = `id, status, requested_by, created_at, ready_at, expires_at, size, chunk_size, sha256, counts, error_code`

func scanWorkspaceExport(row pgx.Row) (*WorkspaceExport, error) {
	e := &WorkspaceExport{}
	err := row.Scan(&e.ID, &e.Status, &e.RequestedBy, &e.CreatedAt, &e.ReadyAt, &e.ExpiresAt, &e.Size, &e.ChunkSize, &e.SHA256, &e.Counts, &e.ErrorCode)
	if e.Counts == nil {
		e.Counts = map[string]int64{}
	}
	return e, err
}

// CreateWorkspaceExport records a new export, building, in tx. It first
// takes a lock on workspace_exports that waits for any erasure in progress
// that has deleted the exports (an erasure deletes them all, see
// runtime/privacy): the new export's build then starts after that erasure
// commits and never holds what it erased. ErrConflict: another export is
// being built.
func (s *Store) CreateWorkspaceExport(ctx context.Context, tx pgx.Tx, requestedBy int64, chunkSize int, expiresAt time.Time) (_ *WorkspaceExport, err error) {
	defer wrap(&err, "CreateWorkspaceExport")
	// SHARE ROW EXCLUSIVE conflicts with the ROW EXCLUSIVE lock a DELETE
	// holds until its transaction ends, and with itself.
	if _, err := tx.Exec(ctx, `LOCK TABLE workspace_exports IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return nil, err
	}
	e, err := scanWorkspaceExport(tx.QueryRow(ctx, `INSERT INTO workspace_exports (requested_by, chunk_size, expires_at)
		VALUES ($1, $2, $3) RETURNING `+workspaceExportColumns, requestedBy, chunkSize, expiresAt))
	if isUnique(err) {
		return nil, ErrConflict
	}
	return e, err
}

// WorkspaceExports lists the exports that are building or have not
// expired, newest first (at most limit).
func (s *Store) WorkspaceExports(ctx context.Context, limit int) (_ []*WorkspaceExport, err error) {
	defer wrap(&err, "WorkspaceExports")
	rows, err := s.Pool.Query(ctx, `SELECT `+workspaceExportColumns+` FROM workspace_exports
		WHERE status = 'building' OR expires_at > now() ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*WorkspaceExport
	for rows.Next() {
		e, err := scanWorkspaceExport(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// WorkspaceExportByID returns one export; ErrNotFound if there is none.
func (s *Store) WorkspaceExportByID(ctx context.Context, q Querier, id int64) (_ *WorkspaceExport, err error) {
	defer wrap(&err, "WorkspaceExportByID(%d)", id)
	if q == nil {
		q = s.Pool
	}
	e, err := scanWorkspaceExport(q.QueryRow(ctx, `SELECT `+workspaceExportColumns+` FROM workspace_exports WHERE id = $1`, id))
	return e, notFound(err)
}

// PutWorkspaceExportChunk stores chunk n of a building export, and touches
// its heartbeat, in one statement (a transaction of its own). ErrNotFound:
// the export is no longer building (it was marked failed, or deleted by an
// erasure), and its builder must stop.
func (s *Store) PutWorkspaceExportChunk(ctx context.Context, id int64, n int, data []byte) (err error) {
	defer wrap(&err, "PutWorkspaceExportChunk(%d, %d)", id, n)
	tag, err := s.Pool.Exec(ctx, `WITH live AS (
			UPDATE workspace_exports SET heartbeat_at = now() WHERE id = $1 AND status = 'building' RETURNING id)
		INSERT INTO workspace_export_chunks (export_id, n, data) SELECT id, $2, $3 FROM live`, id, n, data)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// TouchWorkspaceExport marks a building export as still being built.
// ErrNotFound: it is no longer building.
func (s *Store) TouchWorkspaceExport(ctx context.Context, id int64) (err error) {
	defer wrap(&err, "TouchWorkspaceExport(%d)", id)
	tag, err := s.Pool.Exec(ctx, `UPDATE workspace_exports SET heartbeat_at = now() WHERE id = $1 AND status = 'building'`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// FinishWorkspaceExport makes a building export ready, to expire at
// expiresAt. ErrNotFound: it is no longer building.
func (s *Store) FinishWorkspaceExport(ctx context.Context, id, size int64, sha256 string, counts map[string]int64, expiresAt time.Time) (err error) {
	defer wrap(&err, "FinishWorkspaceExport(%d)", id)
	if counts == nil {
		counts = map[string]int64{}
	}
	tag, err := s.Pool.Exec(ctx, `UPDATE workspace_exports SET status = 'ready', ready_at = now(), heartbeat_at = now(),
			size = $2, sha256 = $3, counts = $4, expires_at = $5
		WHERE id = $1 AND status = 'building'`, id, size, sha256, counts, expiresAt)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// FailWorkspaceExport marks a building export failed with code, and deletes
// what it had written. An export that is not building is left as it is.
func (s *Store) FailWorkspaceExport(ctx context.Context, id int64, code string) (err error) {
	defer wrap(&err, "FailWorkspaceExport(%d)", id)
	_, err = s.Pool.Exec(ctx, `WITH failed AS (
			UPDATE workspace_exports SET status = 'failed', error_code = $2 WHERE id = $1 AND status = 'building' RETURNING id)
		DELETE FROM workspace_export_chunks WHERE export_id IN (SELECT id FROM failed)`, id, code)
	return err
}

// FailAbandonedWorkspaceExports marks failed ('abandoned') the exports
// building whose heartbeat is older than idle (their builder's replica
// died), deletes their chunks, and returns their ids.
func (s *Store) FailAbandonedWorkspaceExports(ctx context.Context, idle time.Duration) (_ []int64, err error) {
	defer wrap(&err, "FailAbandonedWorkspaceExports")
	rows, err := s.Pool.Query(ctx, `WITH failed AS (
			UPDATE workspace_exports SET status = 'failed', error_code = 'abandoned'
			WHERE status = 'building' AND heartbeat_at < now() - make_interval(secs => $1) RETURNING id),
		gone AS (DELETE FROM workspace_export_chunks WHERE export_id IN (SELECT id FROM failed))
		SELECT id FROM failed ORDER BY id`, idle.Seconds())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// DeleteExpiredWorkspaceExports deletes the exports past their expiry that
// are not building, with their chunks, and says how many.
func (s *Store) DeleteExpiredWorkspaceExports(ctx context.Context) (_ int64, err error) {
	defer wrap(&err, "DeleteExpiredWorkspaceExports")
	tag, err := s.Pool.Exec(ctx, `DELETE FROM workspace_exports WHERE expires_at <= now() AND status <> 'building'`)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// WorkspaceExportChunk returns chunk n of an export. ErrNotFound: the
// export or the chunk is gone (expired, or deleted by an erasure).
func (s *Store) WorkspaceExportChunk(ctx context.Context, id int64, n int) (_ []byte, err error) {
	defer wrap(&err, "WorkspaceExportChunk(%d, %d)", id, n)
	var data []byte
	err = s.Pool.QueryRow(ctx, `SELECT data FROM workspace_export_chunks WHERE export_id = $1 AND n = $2`, id, n).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return data, err
}
