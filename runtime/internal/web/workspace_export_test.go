package web

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/export"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

// getWith sends a GET as role's session with extra headers, and reads the body.
func (f *fixture) getWith(role auth.Role, path string, hdr map[string]string) (*http.Response, []byte) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+path, nil)
	req.AddCookie(f.sessions[role])
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := noRedirect().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, b
}

// startExport starts an export through the API as the owner, and waits
// until it is ready.
func (f *fixture) startExport(t *testing.T) *store.WorkspaceExport {
	t.Helper()
	resp := f.api(auth.Owner, http.MethodPost, "/api/v1/exports", "{}")
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /api/v1/exports: %d %s", resp.StatusCode, b)
	}
	var body struct{ Export store.WorkspaceExport }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Export.Status != store.ExportBuilding || resp.Header.Get("Location") != fmt.Sprintf("/api/v1/exports/%d", body.Export.ID) {
		t.Fatalf("started export: %+v, Location %q", body.Export, resp.Header.Get("Location"))
	}
	deadline := time.Now().Add(time.Minute)
	for {
		e, err := f.srv.Exports.Get(bg, body.Export.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case e.Status == store.ExportReady:
			return e
		case e.Status == store.ExportFailed:
			t.Fatalf("export %d failed: %s", e.ID, e.ErrorCode)
		case time.Now().After(deadline):
			t.Fatalf("export %d still %s after a minute", e.ID, e.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWorkspaceExport builds an export larger than a chunk (an attachment
// of random bytes), downloads it whole, resumes a download from the middle
// of a chunk, and checks the zip: every table, the attachment's bytes.
func TestWorkspaceExport(t *testing.T) {
	f := newFixture(t)
	blob := make([]byte, 2*export.ChunkSize+12345) // random: it does not compress
	rand.Read(blob)
	sum := sha256.Sum256(blob)
	if _, err := f.st.Pool.Exec(bg, `INSERT INTO attachments (message_id, filename, content_type, size, sha256, data)
		SELECT id, 'scan.bin', 'application/octet-stream', $2, $3, $4 FROM messages WHERE conversation_id = $1 LIMIT 1`,
		f.convID, len(blob), hex.EncodeToString(sum[:]), blob); err != nil {
		t.Fatal(err)
	}
	e := f.startExport(t)
	if e.Size <= int64(len(blob)) || e.ChunkSize != export.ChunkSize || len(e.SHA256) != 64 || e.Counts["tables/contacts.jsonl"] != 1 {
		t.Fatalf("ready export: %+v", e)
	}
	var chunks int
	f.st.Pool.QueryRow(bg, `SELECT count(*) FROM workspace_export_chunks WHERE export_id = $1`, e.ID).Scan(&chunks)
	if want := int((e.Size + export.ChunkSize - 1) / export.ChunkSize); chunks != want || chunks < 3 {
		t.Fatalf("%d chunks for %d bytes, want %d", chunks, e.Size, want)
	}
	path := fmt.Sprintf("/settings/export/%d/download", e.ID)
	etag := `"` + e.SHA256 + `"`

	resp, whole := f.getWith(auth.Owner, path, nil)
	if resp.StatusCode != http.StatusOK || int64(len(whole)) != e.Size || resp.Header.Get("Content-Length") != fmt.Sprint(e.Size) {
		t.Fatalf("download: %d, %d bytes (Content-Length %s), want %d", resp.StatusCode, len(whole), resp.Header.Get("Content-Length"), e.Size)
	}
	got := sha256.Sum256(whole)
	if hex.EncodeToString(got[:]) != e.SHA256 || resp.Header.Get("ETag") != etag || resp.Header.Get("Accept-Ranges") != "bytes" ||
		resp.Header.Get("Content-Type") != "application/zip" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment; filename=") {
		t.Fatalf("download: sha256 %x, headers %v", got, resp.Header)
	}

	t.Run("a resumed download gets the rest", func(t *testing.T) {
		n := int64(export.ChunkSize + export.ChunkSize/2) // in the middle of the second chunk
		resp, rest := f.getWith(auth.Owner, path, map[string]string{"Range": fmt.Sprintf("bytes=%d-", n), "If-Range": etag})
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", n, e.Size-1, e.Size) {
			t.Fatalf("resume: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
		}
		if !bytes.Equal(append(bytes.Clone(whole[:n]), rest...), whole) {
			t.Fatalf("the first %d bytes and the resumed %d are not the export", n, len(rest))
		}
		// A range within one chunk, and one over a chunk's end.
		for _, r := range [][2]int64{{10, 99}, {export.ChunkSize - 5, export.ChunkSize + 5}} {
			resp, part := f.getWith(auth.Owner, path, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", r[0], r[1])})
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, whole[r[0]:r[1]+1]) {
				t.Errorf("bytes %d-%d: %d, %d bytes differ", r[0], r[1], resp.StatusCode, len(part))
			}
		}
	})

	t.Run("If-Range with another ETag gets the whole file", func(t *testing.T) {
		resp, b := f.getWith(auth.Owner, path, map[string]string{"Range": "bytes=100-", "If-Range": `"0000"`})
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, whole) {
			t.Fatalf("stale If-Range: %d, %d bytes", resp.StatusCode, len(b))
		}
	})

	t.Run("the API serves the same bytes", func(t *testing.T) {
		resp := f.api(auth.Owner, http.MethodGet, fmt.Sprintf("/api/v1/exports/%d/download", e.ID), "")
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, whole) {
			t.Fatalf("API download: %d, %d bytes", resp.StatusCode, len(b))
		}
		resp = f.api(auth.Owner, http.MethodGet, "/api/v1/exports", "")
		var list struct{ Exports []store.WorkspaceExport }
		json.NewDecoder(resp.Body).Decode(&list)
		if resp.StatusCode != http.StatusOK || len(list.Exports) != 1 || list.Exports[0].SHA256 != e.SHA256 {
			t.Fatalf("GET /api/v1/exports: %d %+v", resp.StatusCode, list)
		}
	})

	t.Run("the zip holds every table and the attachment", func(t *testing.T) {
		zr, err := zip.NewReader(bytes.NewReader(whole), int64(len(whole)))
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]*zip.File{}
		for _, zf := range zr.File {
			files[zf.Name] = zf
		}
		rows, _ := f.st.Pool.Query(bg, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(tables) < 20 {
			t.Fatalf("tables: %v %v", tables, err)
		}
		for _, table := range tables {
			_, ok := files["tables/"+table+".jsonl"]
			if ok == (table == "workspace_export_chunks") { // earlier exports' bytes are left out
				t.Errorf("tables/%s.jsonl: in the zip %v", table, ok)
			}
		}
		var att *zip.File
		for name, zf := range files {
			if strings.HasPrefix(name, "attachments/") && strings.HasSuffix(name, "-scan.bin") {
				att = zf
			}
		}
		if att == nil {
			t.Fatalf("no attachment in the zip: %v", len(files))
		}
		rc, _ := att.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(b, blob) {
			t.Errorf("the attachment in the zip is %d bytes, not the %d stored", len(b), len(blob))
		}
	})

	t.Run("owners only", func(t *testing.T) {
		for _, role := range []auth.Role{auth.Admin, auth.Agent, auth.Viewer} {
			if resp, _ := f.getWith(role, path, nil); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s downloads: %d", role, resp.StatusCode)
			}
			for _, p := range []string{"/api/v1/exports", fmt.Sprintf("/api/v1/exports/%d/download", e.ID)} {
				if resp := f.api(role, http.MethodGet, p, ""); resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s GET %s: %d", role, p, resp.StatusCode)
				}
			}
			if resp := f.api(role, http.MethodPost, "/api/v1/exports", "{}"); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s POST /api/v1/exports: %d", role, resp.StatusCode)
			}
			if code, page := f.settingsGet(role, "/settings/profile"); code != http.StatusOK || strings.Contains(page, `href="/settings/export"`) {
				t.Errorf("%s sees the Export section in the settings nav", role)
			}
		}
		if code, page := f.settingsGet(auth.Owner, "/settings/export"); code != http.StatusOK ||
			!strings.Contains(page, fmt.Sprintf(`href="/settings/export/%d/download"`, e.ID)) || !strings.Contains(page, formatBytes(e.Size)) {
			t.Errorf("the owner's export page: %d\n%s", code, page)
		}
	})

	t.Run("the audit log has the start and each download, ids only", func(t *testing.T) {
		if n := crmAudits(t, f, "workspace_export.created", e.ID); n != 1 {
			t.Errorf("%d workspace_export.created entries, want 1", n)
		}
		// Whole, resumed, two ranges, stale If-Range, API: six downloads.
		if n := crmAudits(t, f, "workspace_export.downloaded", e.ID); n != 6 {
			t.Errorf("%d workspace_export.downloaded entries, want 6", n)
		}
	})

	t.Run("an expired export is swept", func(t *testing.T) {
		f.st.Pool.Exec(bg, `UPDATE workspace_exports SET expires_at = now() - interval '1 second' WHERE id = $1`, e.ID)
		if resp, _ := f.getWith(auth.Owner, path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("an expired export downloads: %d", resp.StatusCode)
		}
		n, err := f.srv.Exports.Sweep(bg)
		if err != nil || n != 1 {
			t.Fatalf("sweep: %d, %v; want 1 deleted", n, err)
		}
		var left int
		f.st.Pool.QueryRow(bg, `SELECT (SELECT count(*) FROM workspace_exports) + (SELECT count(*) FROM workspace_export_chunks)`).Scan(&left)
		if left != 0 {
			t.Errorf("%d export rows left after the sweep", left)
		}
	})
}

// TestWorkspaceExportErasure: erasing a contact, or a member, deletes every
// stored export, since each holds them.
func TestWorkspaceExportErasure(t *testing.T) {
	f := newFixture(t)
	contact := f.contactOf(t, f.convID)
	for _, erase := range []struct {
		name string
		fn   func(tx pgx.Tx) (privacy.Counts, error)
	}{
		{"contact", func(tx pgx.Tx) (privacy.Counts, error) { return privacy.EraseContact(bg, tx, contact) }},
		{"member", func(tx pgx.Tx) (privacy.Counts, error) { return privacy.EraseMember(bg, tx, f.users[auth.Viewer].ID) }},
	} {
		t.Run(erase.name, func(t *testing.T) {
			e := f.startExport(t)
			var counts privacy.Counts
			err := pgx.BeginFunc(bg, f.st.Pool, func(tx pgx.Tx) (err error) {
				counts, err = erase.fn(tx)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if counts["workspace_exports"] != 1 || counts["workspace_export_chunks"] < 1 {
				t.Errorf("erasing the %s: %v, want the export and its chunks deleted", erase.name, counts)
			}
			if resp, _ := f.getWith(auth.Owner, fmt.Sprintf("/settings/export/%d/download", e.ID), nil); resp.StatusCode != http.StatusNotFound {
				t.Errorf("the export downloads after the erasure: %d", resp.StatusCode)
			}
		})
	}
}

// TestWorkspaceExportAbandoned: one export is built at a time; an export
// whose builder stopped (its replica died) is marked failed by the sweep,
// and a new one can start.
func TestWorkspaceExportAbandoned(t *testing.T) {
	f := newFixture(t)
	var id int64
	if err := f.st.Pool.QueryRow(bg, `INSERT INTO workspace_exports (requested_by, chunk_size, expires_at) VALUES ($1, 1024, now() + interval '1 day') RETURNING id`,
		f.users[auth.Owner].ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	f.st.Pool.Exec(bg, `INSERT INTO workspace_export_chunks (export_id, n, data) VALUES ($1, 0, '\x504b')`, id)
	resp := f.api(auth.Owner, http.MethodPost, "/api/v1/exports", "")
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("X-Error-Code") != "building" {
		t.Fatalf("a second export while one builds: %d %s", resp.StatusCode, resp.Header.Get("X-Error-Code"))
	}
	if resp, _ := f.getWith(auth.Owner, fmt.Sprintf("/settings/export/%d/download", id), nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("a building export downloads: %d", resp.StatusCode)
	}
	// Alive: the sweep leaves it.
	if _, err := f.srv.Exports.Sweep(bg); err != nil {
		t.Fatal(err)
	}
	if e, _ := f.srv.Exports.Get(bg, id); e.Status != store.ExportBuilding {
		t.Fatalf("a live build was marked %s", e.Status)
	}
	// Its heartbeat stops.
	f.st.Pool.Exec(bg, `UPDATE workspace_exports SET heartbeat_at = now() - make_interval(secs => $2) WHERE id = $1`, id, (export.AbandonedAfter + time.Second).Seconds())
	if _, err := f.srv.Exports.Sweep(bg); err != nil {
		t.Fatal(err)
	}
	e, err := f.srv.Exports.Get(bg, id)
	if err != nil || e.Status != store.ExportFailed || e.ErrorCode != export.FailedAbandoned {
		t.Fatalf("abandoned export: %+v %v", e, err)
	}
	var chunks int
	f.st.Pool.QueryRow(bg, `SELECT count(*) FROM workspace_export_chunks WHERE export_id = $1`, id).Scan(&chunks)
	if chunks != 0 {
		t.Errorf("the abandoned export keeps %d chunks", chunks)
	}
	if code, page := f.settingsGet(auth.Owner, "/settings/export"); code != http.StatusOK || !strings.Contains(page, "Failed: the server building it stopped") {
		t.Errorf("the export page does not show the failure: %d", code)
	}
	f.startExport(t)
}

// stallExport starts an export through the API while attachments is
// locked, and returns once its builder waits for that lock: the export is
// building and stays so until the returned release is called.
func (f *fixture) stallExport(t *testing.T) (id int64, release func()) {
	t.Helper()
	tx, err := f.st.Pool.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(bg, `LOCK TABLE attachments IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	release = func() { tx.Rollback(bg) }
	t.Cleanup(release)
	resp := f.api(auth.Owner, http.MethodPost, "/api/v1/exports", "")
	var body struct{ Export store.WorkspaceExport }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/v1/exports: %d %v", resp.StatusCode, err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var waiting int
		f.st.Pool.QueryRow(bg, `SELECT count(*) FROM pg_locks WHERE relation = 'attachments'::regclass AND NOT granted`).Scan(&waiting)
		if waiting > 0 {
			return body.Export.ID, release
		}
		if time.Now().After(deadline) {
			t.Fatal("the builder never reached the attachments")
		}
	}
}

// TestWorkspaceExportStops: a builder whose export is deleted meanwhile (as
// by an erasure) stops and leaves nothing behind; a replica that shuts down
// marks its build interrupted.
func TestWorkspaceExportStops(t *testing.T) {
	t.Run("deleted while building", func(t *testing.T) {
		f := newFixture(t)
		id, release := f.stallExport(t)
		if _, err := f.st.Pool.Exec(bg, `DELETE FROM workspace_exports WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		release()
		f.srv.Exports.Close() // waits for the builder
		var rows int
		f.st.Pool.QueryRow(bg, `SELECT (SELECT count(*) FROM workspace_exports) + (SELECT count(*) FROM workspace_export_chunks)`).Scan(&rows)
		if rows != 0 {
			t.Errorf("the builder of a deleted export left %d rows", rows)
		}
	})
	t.Run("the replica shuts down", func(t *testing.T) {
		f := newFixture(t)
		id, release := f.stallExport(t)
		f.srv.Exports.Close() // cancels the waiting query
		release()
		e, err := f.st.WorkspaceExportByID(bg, nil, id)
		if err != nil || e.Status != store.ExportFailed || e.ErrorCode != export.FailedInterrupted {
			t.Fatalf("after shutdown: %+v %v; want failed, interrupted", e, err)
		}
	})
}
