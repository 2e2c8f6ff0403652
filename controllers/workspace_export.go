package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/backup/artifact"
	"github.com/switchboard-dev/switchboard/controllers/backup/store"
	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

// AnnotationExportOf is the UID of the Workspace a deletion export was
// taken of. The operator writes it when it creates the Backup, and treats
// a Backup of the export's name as its own only if it carries it.
const AnnotationExportOf = "tenancy.switchboard.dev/export-of"

// ExportRecord is what a deletion receipt says about the export taken
// before the deletion (spec.deletion.export): where it is, how large, its
// digest and the rows of each bundle file. Ids and counts only.
type ExportRecord struct {
	// Mode is spec.deletion.export: BackupStore or None.
	Mode string `json:"mode"`
	// Backup is the Backup that records the export; its artifact expires
	// and is purged with the workspace's backups.
	Backup string `json:"backup,omitempty"`
	Store  string `json:"store,omitempty"`
	Key    string `json:"key,omitempty"`
	// Size and SHA256 are the encrypted artifact's, as read back from the
	// store after the upload.
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// TransitKey is the key whose data key encrypts the export.
	TransitKey string     `json:"transitKey,omitempty"`
	ExportedAt *time.Time `json:"exportedAt,omitempty"`
	// Rows counts the rows of each file of the bundle (tables/<t>.jsonl),
	// and the attachment files (attachments/).
	Rows map[string]int64 `json:"rows,omitempty"`
	// Note says why no export was taken although one was asked for.
	Note string `json:"note,omitempty"`
}

// exportBackupName is the Backup that records a workspace's deletion
// export. The UID's first 8 characters tell the exports of two Workspaces
// of the same name apart.
func exportBackupName(ws *tenancyv1.Workspace) string {
	uid := string(ws.UID)
	if len(uid) > 8 {
		uid = uid[:8]
	}
	return ws.Name + "-export-" + uid
}

// exportKey is where a deletion export lives in the store: under the
// workspace's folder, like its backups, but one folder deeper, so that no
// backup's key (<workspace>/<uid>/<backup>.sbk) can ever be the same.
func exportKey(workspace, uid, backup string) string {
	return workspace + "/" + uid + "/exports/" + backup + ".sbk"
}

// stepError is a deletion step's failure with the reason the Deleting
// condition gives it.
type stepError struct {
	reason string
	err    error
}

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// exportFailed wraps err as an export failure, with an event when the
// reason for waiting changed. err never holds a secret or row data: store
// errors are redacted, pgx errors are scrubbed of the password, and the
// export reports table names and counts only.
func (r *WorkspaceReconciler) exportFailed(d *deletionScope, err error) error {
	msg := "the export before deletion failed; deletion waits and retries (set spec.deletion.export to None to delete without it): " + err.Error()
	if d.deletingReason != tenancyv1.ReasonExportFailed {
		r.Recorder.Eventf(d.ws, nil, "Warning", tenancyv1.EventExportFailed, "Delete", "%s", msg)
	}
	return &stepError{reason: tenancyv1.ReasonExportFailed, err: errors.New(msg)}
}

// DeletionExportOf is what the deletion of ws exports: spec.deletion.export,
// or None when it is not set (an export is a full copy of personal data).
func DeletionExportOf(ws *tenancyv1.Workspace) tenancyv1.DeletionExport {
	if ws.Spec.Deletion == nil || ws.Spec.Deletion.Export == "" {
		return tenancyv1.DeletionExportNone
	}
	return ws.Spec.Deletion.Export
}

// deleteExport takes the export that spec.deletion.export asks for before
// any data goes, and fills the receipt's export record. The export is a
// Backup with reason DeletionExport, so it lives and dies like a backup:
// the expiry controller purges it at the same deadline, with proof and a
// receipt, and the transit key that reads it is kept until then.
func (r *WorkspaceReconciler) deleteExport(ctx context.Context, d *deletionScope) (bool, error) {
	ws := d.ws
	mode := DeletionExportOf(ws)
	rec := &ExportRecord{Mode: string(mode)}
	d.receipt.Export = rec
	if mode != tenancyv1.DeletionExportBackupStore {
		return true, nil
	}
	name := exportBackupName(ws)
	b := &tenancyv1.Backup{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Name: name}, b)
	switch {
	case apierrors.IsNotFound(err):
		b = nil
	case err != nil:
		return false, fmt.Errorf("reading Backup %s: %w", name, err)
	case !exportIsOurs(b, ws):
		return false, r.exportFailed(d, fmt.Errorf("Backup %s exists and is not this Workspace's deletion export; it is left untouched: delete or rename it", name))
	}
	if b != nil && b.Status.Phase == tenancyv1.BackupCompleted {
		recordExport(rec, b)
		return true, nil
	}

	if b == nil {
		if ws.Status.Database == nil || ws.Status.TransitKey == "" {
			rec.Note = "no export: the workspace never had a database and a transit key"
			return true, nil
		}
		shred, err := r.shredsOnDelete(ctx, ws)
		if err != nil {
			return false, err
		}
		if shred {
			rec.Note = "no export: the RetentionPolicy's backups.shredOnDelete destroys the transit key that would read it at deletion"
			r.Recorder.Eventf(ws, nil, "Warning", tenancyv1.EventExportFailed, "Delete",
				"spec.deletion.export is BackupStore, but backups.shredOnDelete destroys the key that would read the export: none is taken")
			return true, nil
		}
		if r.Backups == nil {
			return false, r.exportFailed(d, errors.New("the operator has no backup support configured"))
		}
		migrated, err := r.databaseMigrated(ctx, ws)
		if err != nil {
			return false, r.exportFailed(d, err)
		}
		if !migrated {
			rec.Note = "no export: the runtime never migrated the workspace's database, which holds nothing of the workspace's"
			return true, nil
		}
	}
	if r.Backups == nil || r.Backups.Stores == nil {
		return false, r.exportFailed(d, errors.New("the operator has no backup support configured"))
	}
	st, err := r.Backups.Stores.Open(ws.Spec.DatabaseServer)
	if err == nil {
		err = st.Ping(ctx)
	}
	if err != nil {
		return false, r.exportFailed(d, fmt.Errorf("the backup store of server %s: %w", ws.Spec.DatabaseServer, err))
	}

	if b == nil {
		b = &tenancyv1.Backup{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				Labels: map[string]string{
					tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue,
					tenancyv1.LabelWorkspace: ws.Name,
				},
				Annotations: map[string]string{AnnotationExportOf: string(ws.UID)},
				Finalizers:  []string{tenancyv1.BackupFinalizer},
			},
			Spec: tenancyv1.BackupSpec{Workspace: ws.Name, Reason: tenancyv1.BackupReasonDeletionExport},
		}
		if err := r.Create(ctx, b); err != nil {
			return false, fmt.Errorf("creating Backup %s for the export: %w", name, err)
		}
	}
	if _, running := r.Backups.active.Load(b.UID); running {
		return false, nil
	}
	key := exportKey(ws.Name, string(ws.UID), b.Name)
	if b.Status.Phase == tenancyv1.BackupRunning {
		// A run that no goroutine of this process holds: the operator died
		// mid-upload. What is at the key is that run's, since the claim
		// below is written before anything reaches the store.
		if _, err := st.Purge(ctx, key); err != nil {
			return false, r.exportFailed(d, fmt.Errorf("removing what an interrupted export left: %w", err))
		}
		b.Status.Artifact = nil
	} else if _, err := st.Stat(ctx, key); err == nil {
		return false, r.exportFailed(d, fmt.Errorf("an object this operator did not write is at key %s of store %s; it is left untouched", key, st.URL()))
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, r.exportFailed(d, err)
	}
	if !b.DeletionTimestamp.IsZero() {
		// Someone deleted the unfinished export: fail it, so its finalizer
		// lets it go, and take a new one once it is gone.
		b.Status.Phase = tenancyv1.BackupFailed
		b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionFalse, tenancyv1.BackupReasonInterrupted, "deleted before the export completed")
		if err := r.writeBackupStatus(ctx, b); err != nil {
			return false, err
		}
		return false, nil
	}
	if !r.Backups.tryAcquire() {
		d.ws.SetTrue(tenancyv1.ConditionDeleting, tenancyv1.ReasonDeletionInProgress, "export queued: --max-concurrent-backups backups and restores are running")
		return false, nil
	}
	defer r.Backups.release()

	// Claim the run: from here a crash leaves Running, which the next pass
	// cleans up and runs again.
	b.Status.Phase = tenancyv1.BackupRunning
	b.Status.WorkspaceUID = string(ws.UID)
	b.Status.TransitKey = ws.TransitKeyName()
	b.Status.DatabaseServer = ws.Spec.DatabaseServer
	b.Status.Attempts++
	b.Status.StartedAt = ptrTime(time.Now())
	b.Status.Artifact = &tenancyv1.BackupArtifact{Store: st.URL(), Key: key}
	b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionUnknown, tenancyv1.BackupReasonRunning,
		fmt.Sprintf("run %d: export of %s streaming into %s", b.Status.Attempts, ws.DatabaseName(), st.URL()))
	if err := r.writeBackupStatus(ctx, b); err != nil {
		return false, err
	}
	r.Backups.active.Store(b.UID, true)
	defer r.Backups.active.Delete(b.UID)

	start := time.Now()
	res, err := r.exportTo(ctx, ws, b, st)
	if err != nil {
		if _, perr := st.Purge(ctx, key); perr != nil {
			// Still Running: the next pass purges it before it tries again.
			return false, r.exportFailed(d, fmt.Errorf("%w; removing its upload failed too: %w", err, perr))
		}
		b.Status.Phase = tenancyv1.BackupPending
		b.Status.Artifact = nil
		b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionFalse, tenancyv1.BackupReasonDumpFailed, "export run "+fmt.Sprint(b.Status.Attempts)+": "+err.Error()+"; retrying")
		if werr := r.writeBackupStatus(ctx, b); werr != nil {
			return false, werr
		}
		return false, r.exportFailed(d, err)
	}
	now := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
	a := b.Status.Artifact
	a.Size, a.SHA256, a.WrappedKey, a.TransitKeyVersion = res.size, res.sha256, res.wrapped, res.version
	a.DumpedAt = &metav1.Time{Time: res.exportedAt}
	a.RowCounts = res.counts
	a.Tables, a.Rows = 0, 0
	for file, n := range res.counts {
		if file != "attachments/" {
			a.Tables++
			a.Rows += n
		}
	}
	b.Status.Size = humanBytes(a.Size)
	b.Status.Phase = tenancyv1.BackupCompleted
	b.Status.CompletedAt = &now
	b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionTrue, tenancyv1.BackupReasonCompleted,
		fmt.Sprintf("export of %d tables (%d rows) and %d attachments, %s, encrypted with transit key %s v%d and read back from the store in %s",
			a.Tables, a.Rows, res.counts["attachments/"], b.Status.Size, b.Status.TransitKey, a.TransitKeyVersion, time.Since(start).Round(time.Millisecond)))
	if err := r.writeBackupStatus(ctx, b); err != nil {
		return false, err
	}
	r.Recorder.Eventf(ws, b, "Normal", tenancyv1.EventExported, "Delete",
		"exported the workspace before deletion: %d tables, %s, into %s as Backup %s", a.Tables, b.Status.Size, st.URL(), b.Name)
	recordExport(rec, b)
	return true, nil
}

// exportIsOurs says whether b is ws's deletion export: made by the operator
// for this Workspace's UID, and never another Backup of the same name.
func exportIsOurs(b *tenancyv1.Backup, ws *tenancyv1.Workspace) bool {
	uid := string(ws.UID)
	return b.Spec.Workspace == ws.Name && b.Spec.Reason == tenancyv1.BackupReasonDeletionExport &&
		b.Annotations[AnnotationExportOf] == uid && (b.Status.WorkspaceUID == "" || b.Status.WorkspaceUID == uid)
}

// recordExport copies a Completed export into the receipt's record.
func recordExport(rec *ExportRecord, b *tenancyv1.Backup) {
	a := b.Status.Artifact
	rec.Backup, rec.TransitKey = b.Name, b.Status.TransitKey
	if a == nil {
		return
	}
	rec.Store, rec.Key, rec.Size, rec.SHA256 = a.Store, a.Key, a.Size, a.SHA256
	rec.Rows = maps.Clone(a.RowCounts)
	if a.DumpedAt != nil {
		t := a.DumpedAt.UTC()
		rec.ExportedAt = &t
	}
}

// databaseMigrated says whether the runtime ever created its schema in the
// workspace's database (goose's version table is there).
func (r *WorkspaceReconciler) databaseMigrated(ctx context.Context, ws *tenancyv1.Workspace) (bool, error) {
	db, err := r.Backups.tenantDatabase(ctx, ws, ws.DatabaseName())
	if err != nil {
		return false, err
	}
	conn, err := db.Connect(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	var migrated bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('public.goose_db_version') IS NOT NULL`).Scan(&migrated); err != nil {
		return false, fmt.Errorf("reading the database's schema: %w", err)
	}
	return migrated, nil
}

// shredsOnDelete says whether the workspace's RetentionPolicy destroys its
// transit key at deletion. A policy that cannot be resolved shreds nothing
// (as deleteBackupsAndKey decides).
func (r *WorkspaceReconciler) shredsOnDelete(ctx context.Context, ws *tenancyv1.Workspace) (bool, error) {
	policy, err := resolvePolicy(ctx, r.APIReader, ws)
	var perr *PolicyError
	switch {
	case errors.As(err, &perr):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading retention policy: %w", err)
	}
	return policy != nil && policy.Spec.Backups.ShredOnDelete, nil
}

// writeBackupStatus writes b's status over the latest copy of b, retrying
// on conflicts, and makes sure the finalizer is there: the expiry
// controller adds it too, but an export must never be left without it.
func (r *WorkspaceReconciler) writeBackupStatus(ctx context.Context, b *tenancyv1.Backup) error {
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		latest := &tenancyv1.Backup{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(b), latest); err != nil {
			return err
		}
		latest.Status = *b.Status.DeepCopy()
		if err := r.Status().Update(ctx, latest); err != nil {
			return err
		}
		b.ObjectMeta = latest.ObjectMeta
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording the export in Backup %s: %w", b.Name, err)
	}
	if !controllerutil.ContainsFinalizer(b, tenancyv1.BackupFinalizer) && b.DeletionTimestamp.IsZero() {
		patch := client.MergeFrom(b.DeepCopy())
		controllerutil.AddFinalizer(b, tenancyv1.BackupFinalizer)
		if err := r.Patch(ctx, b, patch); err != nil {
			return fmt.Errorf("adding the finalizer to Backup %s: %w", b.Name, err)
		}
	}
	return nil
}

type exportResult struct {
	size            int64
	sha256, wrapped string
	version         int
	exportedAt      time.Time
	counts          privacy.Counts
}

// exportTo streams privacy.ExportWorkspace of the workspace's database,
// connected as the workspace's own role (as pg_dump is for a backup),
// through the backup artifact writer under a new data key into the store
// at b's key, then reads the object back and checks its size and SHA-256
// against what was written. The plaintext key is dropped on return.
func (r *WorkspaceReconciler) exportTo(ctx context.Context, ws *tenancyv1.Workspace, b *tenancyv1.Backup, st store.Store) (*exportResult, error) {
	db, err := r.Backups.tenantDatabase(ctx, ws, ws.DatabaseName())
	if err != nil {
		return nil, err
	}
	conn, err := db.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	dataKey, wrapped, version, err := r.Backups.Vault.DataKey(ctx, b.Status.TransitKey)
	if err != nil {
		return nil, fmt.Errorf("asking Vault for a data key: %w", err)
	}
	defer clear(dataKey)
	meta, err := json.Marshal(map[string]any{
		"workspaceUID": string(ws.UID), "content": "workspace-export", "format": "zip", "bundleVersion": privacy.BundleVersion,
	})
	if err != nil {
		return nil, err
	}
	exportedAt := time.Now().UTC().Truncate(time.Second)
	header := artifact.Header{TransitKey: b.Status.TransitKey, KeyVersion: version, WrappedKey: wrapped, Created: exportedAt, Metadata: meta}

	pr, pw := io.Pipe()
	sum := &digest{h: sha256.New()}
	var counts privacy.Counts
	done := make(chan error, 1)
	go func() {
		err := func() error {
			aw, err := artifact.NewWriter(io.MultiWriter(pw, sum), header, dataKey)
			if err != nil {
				return err
			}
			defer aw.Abort()
			if counts, err = privacy.ExportWorkspace(ctx, conn, aw); err != nil {
				return err
			}
			return aw.Close()
		}()
		pw.CloseWithError(err)
		done <- err
	}()
	obj, putErr := st.Put(ctx, b.Status.Artifact.Key, pr)
	pr.CloseWithError(errStoreStopped)
	switch exportErr := <-done; {
	case exportErr != nil && !errors.Is(exportErr, errStoreStopped):
		return nil, exportErr
	case putErr != nil:
		return nil, &storeError{err: putErr}
	case exportErr != nil:
		return nil, exportErr
	}
	want := hex.EncodeToString(sum.h.Sum(nil))
	if obj.Size != sum.n {
		return nil, &storeError{err: fmt.Errorf("the store holds %d bytes at %s, but %d were written", obj.Size, obj.Key, sum.n)}
	}
	if err := verifyObject(ctx, st, b.Status.Artifact.Key, sum.n, want); err != nil {
		return nil, &storeError{err: err}
	}
	return &exportResult{size: sum.n, sha256: want, wrapped: wrapped, version: version, exportedAt: exportedAt, counts: counts}, nil
}

// errStoreStopped is what the export's writes return once the store has
// stopped reading: the store's own error says why.
var errStoreStopped = errors.New("the store stopped reading")

// verifyObject reads the object at key back from the store and checks its
// size and SHA-256.
func verifyObject(ctx context.Context, st store.Store, key string, size int64, sha string) error {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("reading the export back: %w", err)
	}
	defer rc.Close()
	got := &digest{h: sha256.New()}
	if _, err := io.Copy(got, rc); err != nil {
		return fmt.Errorf("reading the export back: %w", err)
	}
	if got.n != size || hex.EncodeToString(got.h.Sum(nil)) != sha {
		return fmt.Errorf("the export read back from the store (%d bytes) is not the one written (%d bytes, sha256 %s)", got.n, size, sha)
	}
	return nil
}

// digest counts and hashes what is written to it.
type digest struct {
	h hash.Hash
	n int64
}

func (d *digest) Write(p []byte) (int, error) {
	d.h.Write(p)
	d.n += int64(len(p))
	return len(p), nil
}

// conditionReason is c's reason, or "".
func conditionReason(c *metav1.Condition) string {
	if c == nil {
		return ""
	}
	return c.Reason
}
