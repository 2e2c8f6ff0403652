package export

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Download is a ready export opened for reading: Reader reads and seeks
// over its zip, fetching one chunk at a time as the reads reach it, so a
// download (or a range of one) holds at most one chunk in memory.
type Download struct {
	*store.WorkspaceExport
	Reader io.ReadSeeker
}

// Open records that actor downloads export id (an audit entry, ids only)
// and opens it. store.ErrNotFound: there is no such export, or it expired;
// ErrNotReady: it is building or failed. The reader reads with ctx: a
// request's.
func (s *Service) Open(ctx context.Context, actor, id int64) (*Download, error) {
	e, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if e.Status != store.ExportReady {
		return nil, ErrNotReady
	}
	if err := s.store.Audit(ctx, nil, &actor, "user", "workspace_export.downloaded", "workspace_export", id); err != nil {
		return nil, err
	}
	return &Download{WorkspaceExport: e, Reader: &chunkReader{ctx: ctx, store: s.store, e: e, chunk: -1}}, nil
}

// chunkReader is an io.ReadSeeker over a ready export's chunks.
type chunkReader struct {
	ctx   context.Context
	store *store.Store
	e     *store.WorkspaceExport
	off   int64
	chunk int    // the number of the chunk in buf; -1 for none
	buf   []byte // that chunk
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.off >= r.e.Size {
		return 0, io.EOF
	}
	n := int(r.off / int64(r.e.ChunkSize))
	if n != r.chunk {
		data, err := r.store.WorkspaceExportChunk(r.ctx, r.e.ID, n)
		if errors.Is(err, store.ErrNotFound) {
			// Deleted while it was read: expired, or an erasure.
			return 0, fmt.Errorf("export %d: chunk %d is gone: %w", r.e.ID, n, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return 0, err
		}
		r.chunk, r.buf = n, data
	}
	i := r.off - int64(n)*int64(r.e.ChunkSize)
	if i >= int64(len(r.buf)) {
		return 0, fmt.Errorf("export %d: chunk %d is shorter than its place says: %w", r.e.ID, n, io.ErrUnexpectedEOF)
	}
	k := copy(p, r.buf[i:])
	r.off += int64(k)
	return k, nil
}

func (r *chunkReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.e.Size
	default:
		return 0, errors.New("export: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("export: seek before the start")
	}
	r.off = offset
	return offset, nil
}
