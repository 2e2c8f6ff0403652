// Package export builds the owner's whole-workspace exports and serves them
// back. An export is privacy.ExportWorkspace's zip (every table as JSON
// Lines, plus the attachments), built once in the background and kept in
// the tenant database in chunks (workspace_export_chunks), so that every
// replica serves the same bytes and a download can resume with an HTTP
// Range request where it stopped. Nothing holds the whole zip in memory:
// the builder writes it out a chunk at a time, each chunk in a transaction
// of its own, and a download reads the chunks it covers one at a time.
//
// # Lifecycle
//
// Start records an export as building (one at a time in a workspace,
// whichever replica builds it) and builds it in a goroutine of the replica
// that was asked. The builder touches the export's heartbeat with every
// chunk and every HeartbeatEvery; Sweep marks failed ("abandoned") an
// export whose heartbeat is older than AbandonedAfter, as when its replica
// died. A ready export expires TTL after it was finished, and Sweep then
// deletes it; the runtime runs Sweep with its housekeeping.
//
// Erasing a contact or a member (runtime/privacy) deletes every export,
// building or ready: each holds the person erased. A builder whose export
// was deleted stops at its next chunk.
package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

const (
	// TTL is how long a ready export can be downloaded.
	TTL = 24 * time.Hour
	// ChunkSize is the size of the chunks an export is stored in.
	ChunkSize = 1 << 20
	// HeartbeatEvery is how often a builder says it is alive when it
	// writes no chunk (reading a large table, say).
	HeartbeatEvery = 15 * time.Second
	// AbandonedAfter is how long a building export may go without a
	// heartbeat before Sweep marks it failed.
	AbandonedAfter = 2 * time.Minute
	// listLimit is how many exports List returns.
	listLimit = 50
)

// Error codes of failed exports (WorkspaceExport.ErrorCode).
const (
	// FailedBuild: building the zip or storing it failed.
	FailedBuild = "build"
	// FailedAbandoned: the builder stopped saying it was alive.
	FailedAbandoned = "abandoned"
	// FailedInterrupted: the replica that built it shut down.
	FailedInterrupted = "interrupted"
)

// ErrBuilding says an export is being built already: one at a time.
var ErrBuilding = errors.New("an export is being built already: wait until it is ready")

// ErrNotReady says an export cannot be downloaded: it is building or failed.
var ErrNotReady = errors.New("the export is not ready: it is being built, or it failed")

// Service builds and serves the workspace's exports.
type Service struct {
	store *store.Store
	log   *slog.Logger
	// build writes the zip (privacy.ExportWorkspace).
	build func(ctx context.Context, db privacy.Beginner, w io.Writer) (privacy.Counts, error)

	ctx    context.Context // the builders'; Close cancels it
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
}

// New returns the service over st.
func New(st *store.Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{store: st, log: log, build: privacy.ExportWorkspace, ctx: ctx, cancel: cancel}
}

// Close stops the builders running in this replica, marking their exports
// failed ("interrupted"), and waits for them.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Start records a new export, requested by actor, with its audit entry, and
// builds it in the background. ErrBuilding: another is being built.
func (s *Service) Start(ctx context.Context, actor int64) (*store.WorkspaceExport, error) {
	if _, err := s.store.FailAbandonedWorkspaceExports(ctx, AbandonedAfter); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("export: the service is shutting down")
	}
	var e *store.WorkspaceExport
	err := s.store.Transact(ctx, func(tx pgx.Tx) (err error) {
		if e, err = s.store.CreateWorkspaceExport(ctx, tx, actor, ChunkSize, time.Now().Add(TTL)); err != nil {
			return err
		}
		return s.store.Audit(ctx, tx, &actor, "user", "workspace_export.created", "workspace_export", e.ID)
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, ErrBuilding
	}
	if err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.run(e.ID)
	return e, nil
}

// List returns the newest exports, newest first.
func (s *Service) List(ctx context.Context) ([]*store.WorkspaceExport, error) {
	return s.store.WorkspaceExports(ctx, listLimit)
}

// Get returns one export; store.ErrNotFound if there is none, or it has
// expired.
func (s *Service) Get(ctx context.Context, id int64) (*store.WorkspaceExport, error) {
	e, err := s.store.WorkspaceExportByID(ctx, nil, id)
	if err != nil {
		return nil, err
	}
	if e.Status != store.ExportBuilding && !time.Now().Before(e.ExpiresAt) {
		return nil, store.ErrNotFound
	}
	return e, nil
}

// Sweep marks failed the exports whose builder stopped, and deletes the
// expired ones. It returns how many it deleted.
func (s *Service) Sweep(ctx context.Context) (int64, error) {
	ids, err := s.store.FailAbandonedWorkspaceExports(ctx, AbandonedAfter)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		s.log.Warn("workspace export abandoned: its builder stopped", "export", id)
	}
	return s.store.DeleteExpiredWorkspaceExports(ctx)
}

// run builds export id. The zip streams through a chunkWriter into the
// database; a heartbeat keeps the export alive while a long query writes
// nothing, and cancels the build when the export is no longer building.
func (s *Service) run(id int64) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	start := time.Now()
	var gone atomic.Bool // the heartbeat found the export no longer building
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		t := time.NewTicker(HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.store.TouchWorkspaceExport(ctx, id); errors.Is(err, store.ErrNotFound) {
					gone.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	w := &chunkWriter{ctx: ctx, store: s.store, id: id, buf: make([]byte, 0, ChunkSize), sum: sha256.New()}
	counts, err := s.build(ctx, s.store.Pool, w)
	if err == nil {
		err = w.flush()
	}
	if err == nil {
		err = s.store.FinishWorkspaceExport(ctx, id, w.size, hex.EncodeToString(w.sum.Sum(nil)), counts, time.Now().Add(TTL))
	}
	cancel()
	<-beat
	if err == nil {
		s.log.Info("workspace export ready", "export", id, "bytes", w.size, "seconds", time.Since(start).Seconds())
		return
	}
	if errors.Is(err, store.ErrNotFound) || gone.Load() {
		// Deleted by an erasure, or marked abandoned: nothing to record.
		s.log.Warn("workspace export stopped: it is no longer building", "export", id)
		return
	}
	code := FailedBuild
	if s.ctx.Err() != nil {
		code = FailedInterrupted
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer fcancel()
	if ferr := s.store.FailWorkspaceExport(fctx, id, code); ferr != nil {
		s.log.Error("workspace export failed, and marking it failed did too", "export", id, "error", ferr.Error())
	}
	// The errors of ExportWorkspace and of the store name tables and
	// steps, never values.
	s.log.Error("workspace export failed", "export", id, "code", code, "error", err.Error())
}

// chunkWriter stores what is written to it as an export's chunks, ChunkSize
// bytes at a time, and counts and hashes it.
type chunkWriter struct {
	ctx   context.Context
	store *store.Store
	id    int64
	n     int // the next chunk's number
	buf   []byte
	size  int64
	sum   hash.Hash
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		k := min(len(p), ChunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p, written = p[k:], written+k
		if len(w.buf) == ChunkSize {
			if err := w.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// flush stores the buffered bytes as the next chunk.
func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.store.PutWorkspaceExportChunk(w.ctx, w.id, w.n, w.buf); err != nil {
		return fmt.Errorf("storing chunk %d: %w", w.n, err)
	}
	w.sum.Write(w.buf)
	w.size += int64(len(w.buf))
	w.n++
	w.buf = w.buf[:0]
	return nil
}
