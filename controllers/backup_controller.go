package controllers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/backup/artifact"
	"github.com/switchboard-dev/switchboard/controllers/backup/dump"
	"github.com/switchboard-dev/switchboard/controllers/backup/store"
	"github.com/switchboard-dev/switchboard/controllers/external"
	"github.com/switchboard-dev/switchboard/controllers/postgres"
	"github.com/switchboard-dev/switchboard/controllers/vault"
	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// maxBackupAttempts is how many runs an interrupted backup gets.
const maxBackupAttempts = 3

// BackupReconciler takes backups: it runs pg_dump of a Pending Backup's
// workspace through envelope encryption into the store, and verifies
// backups that ask for it. Its work queue is the backup queue: it runs
// --max-concurrent-backups at once, and the rest wait their turn.
type BackupReconciler struct {
	client.Client
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Backups   *BackupEnv
	// MaxConcurrent is --max-concurrent-backups.
	MaxConcurrent int
	RetryAfter    time.Duration
}

// BackupEnv is what taking, verifying, restoring and purging backups needs,
// shared by the Backup, expiry and Workspace reconcilers.
type BackupEnv struct {
	DB    *postgres.Provisioner
	Vault *vault.Client
	// Stores opens the store of a database server's tenants.
	Stores *Stores
	// Compression is pg_dump's -Z level.
	Compression int
	// PgDump and PgRestore are the tools' paths (default: on PATH).
	PgDump, PgRestore string
	// ReplayErasures re-applies, to a restored database, the erasures the
	// workspace's ledger recorded after b was dumped, and says how many.
	ReplayErasures func(ctx context.Context, ws *tenancyv1.Workspace, b *tenancyv1.Backup, db dump.Database) (int, error)
	// DestroyLedger destroys the erasure ledger of a deleted workspace, with
	// its transit key, and says how many entries it held.
	DestroyLedger func(ctx context.Context, workspace, uid string) (int, error)
	// BeforeDump, if set, runs before each dump (tests watch the queue).
	BeforeDump func(ctx context.Context, backup string)
	// DuringUpload, if set, runs once the first bytes of an artifact went
	// to the store (tests stop the operator mid-upload).
	DuringUpload func(ctx context.Context, backup string)
	// BeforeRestore, if set, runs before a restore into a scratch database.
	BeforeRestore func(ctx context.Context, workspace string)

	// active holds the Backups this process is running, so a Running
	// Backup it does not hold is known to be left by a crash.
	active sync.Map
	// slots bounds the dumps, restores and verifications running at once
	// (--max-concurrent-backups).
	slots chan struct{}
}

// NewBackupEnv returns an env whose queue runs maxConcurrent jobs at once.
func NewBackupEnv(e *BackupEnv, maxConcurrent int) *BackupEnv {
	e.slots = make(chan struct{}, max(1, maxConcurrent))
	return e
}

// acquire waits for a slot.
func (e *BackupEnv) acquire(ctx context.Context) error {
	select {
	case e.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tryAcquire takes a slot if one is free.
func (e *BackupEnv) tryAcquire() bool {
	select {
	case e.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (e *BackupEnv) release() { <-e.slots }

// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=backups,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=backups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=backups/finalizers,verbs=update

// Reconcile takes or verifies one Backup.
func (r *BackupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	b := &tenancyv1.Backup{}
	if err := r.Get(ctx, req.NamespacedName, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if b.Spec.Reason == tenancyv1.BackupReasonDeletionExport && b.Annotations[AnnotationExportOf] != "" {
		return ctrl.Result{}, nil // the Workspace controller takes it (workspace_export.go)
	}
	ctx = logf.IntoContext(ctx, logf.FromContext(ctx).WithValues("backup", b.Name, "workspace", b.Spec.Workspace))
	before := b.DeepCopy()
	defer func() {
		patchStatus(ctx, r.Client, before, b, func(b *tenancyv1.Backup) tenancyv1.BackupStatus { return b.Status }, &result, &retErr)
	}()

	switch b.Status.Phase {
	case "", tenancyv1.BackupPending:
		if !b.DeletionTimestamp.IsZero() {
			b.Status.Phase = tenancyv1.BackupFailed
			b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionFalse, tenancyv1.BackupReasonInterrupted, "deleted before it was taken")
			return ctrl.Result{}, nil
		}
		return r.take(ctx, b, before)
	case tenancyv1.BackupRunning:
		if _, ok := r.Backups.active.Load(b.UID); ok {
			return ctrl.Result{}, nil
		}
		// Only the API server can say the run is over: the cache may still
		// show Running a moment after the run recorded Completed, and
		// cleaning up after a "crashed" run purges the artifact.
		fresh := &tenancyv1.Backup{}
		if err := r.APIReader.Get(ctx, req.NamespacedName, fresh); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		if fresh.Status.Phase != tenancyv1.BackupRunning || fresh.ResourceVersion != b.ResourceVersion {
			return ctrl.Result{Requeue: true}, nil
		}
		return r.interrupted(ctx, b)
	case tenancyv1.BackupCompleted:
		if b.Spec.Verify && b.GetCondition(tenancyv1.BackupConditionVerified) == nil && b.DeletionTimestamp.IsZero() {
			return r.verify(ctx, b)
		}
	}
	return ctrl.Result{}, nil
}

// interrupted handles a Backup left Running by an operator that died: it
// removes what the run left in the store, then retries or gives up.
func (r *BackupReconciler) interrupted(ctx context.Context, b *tenancyv1.Backup) (ctrl.Result, error) {
	if a := b.Status.Artifact; a != nil && a.Key != "" {
		st, err := r.Backups.Stores.Open(b.Status.DatabaseServer)
		if err == nil {
			_, err = st.Purge(ctx, a.Key)
		}
		if err != nil {
			b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionFalse, tenancyv1.BackupReasonStoreUnreachable,
				"an interrupted run left a partial upload that could not be removed yet: "+err.Error())
			return ctrl.Result{RequeueAfter: r.RetryAfter}, nil
		}
		b.Status.Artifact = nil
	}
	if b.Status.Attempts >= maxBackupAttempts || !b.DeletionTimestamp.IsZero() {
		b.Status.Phase = tenancyv1.BackupFailed
		b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionFalse, tenancyv1.BackupReasonInterrupted,
			fmt.Sprintf("interrupted %d times (the operator stopped mid-backup); partial uploads were removed", b.Status.Attempts))
		r.Recorder.Eventf(b, nil, "Warning", "BackupFailed", "Backup", "backup of %s failed: interrupted %d times", b.Spec.Workspace, b.Status.Attempts)
		backupFailures.WithLabelValues(b.Spec.Workspace, tenancyv1.BackupReasonInterrupted).Inc()
		return ctrl.Result{}, nil
	}
	b.Status.Phase = tenancyv1.BackupPending
	b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionUnknown, tenancyv1.BackupReasonInterrupted,
		fmt.Sprintf("run %d was interrupted (the operator stopped mid-backup); its partial upload was removed and the backup is queued again", b.Status.Attempts))
	return ctrl.Result{Requeue: true}, nil
}

// artifactKey is where a Backup's artifact lives in its store.
func artifactKey(b *tenancyv1.Backup) string {
	if b.Spec.Reason == tenancyv1.BackupReasonDeletionExport {
		return exportKey(b.Spec.Workspace, b.Status.WorkspaceUID, b.Name)
	}
	return b.Spec.Workspace + "/" + b.Status.WorkspaceUID + "/" + b.Name + ".sbk"
}

// take runs one backup. The Running phase is written before anything goes
// to the store, so a crash leaves a Backup that says what to clean up.
func (r *BackupReconciler) take(ctx context.Context, b, before *tenancyv1.Backup) (ctrl.Result, error) {
	if b.Spec.Reason == tenancyv1.BackupReasonDeletionExport {
		b.Status.Phase = tenancyv1.BackupFailed
		b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionFalse, tenancyv1.BackupReasonDumpFailed,
			"reason DeletionExport is for the export the operator takes before it deletes a Workspace (spec.deletion.export); this Backup was not made by it, and nothing is taken")
		return ctrl.Result{}, nil
	}
	ws := &tenancyv1.Workspace{}
	err := r.Get(ctx, client.ObjectKey{Name: b.Spec.Workspace}, ws)
	switch {
	case apierrors.IsNotFound(err), err == nil && b.Status.WorkspaceUID != "" && string(ws.UID) != b.Status.WorkspaceUID:
		b.Status.Phase = tenancyv1.BackupFailed
		b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionFalse, tenancyv1.BackupReasonWorkspaceNotFound,
			"Workspace "+b.Spec.Workspace+" does not exist: there is nothing to back up")
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	case !ws.DeletionTimestamp.IsZero():
		b.Status.Phase = tenancyv1.BackupFailed
		b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionFalse, tenancyv1.BackupReasonWorkspaceNotFound,
			"Workspace "+b.Spec.Workspace+" is being deleted: no new backup is taken")
		return ctrl.Result{}, nil
	case ws.CreationTimestamp.After(b.CreationTimestamp.Time):
		b.Status.Phase = tenancyv1.BackupFailed
		b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionFalse, tenancyv1.BackupReasonWorkspaceNotFound,
			"Workspace "+b.Spec.Workspace+" was created after this Backup: it is not the workspace the Backup asked for")
		return ctrl.Result{}, nil
	}
	b.Status.WorkspaceUID = string(ws.UID)
	b.Status.TransitKey = ws.TransitKeyName()
	b.Status.DatabaseServer = ws.Spec.DatabaseServer
	b.Status.Phase = tenancyv1.BackupPending
	if !ws.IsTrue(tenancyv1.ConditionDatabaseReady) || !ws.IsTrue(tenancyv1.ConditionVaultReady) ||
		(ws.Status.Restore != nil && ws.Status.Restore.Phase == tenancyv1.RestoreRunning) {
		b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionUnknown, tenancyv1.BackupReasonWaitingWorkspace,
			"waiting for Workspace "+ws.Name+" to have its database and Vault ready (and no restore running)")
		return ctrl.Result{RequeueAfter: r.RetryAfter}, nil
	}
	st, err := r.Backups.Stores.Open(ws.Spec.DatabaseServer)
	if errors.Is(err, errNoStore) {
		b.Status.Phase = tenancyv1.BackupFailed
		b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionFalse, tenancyv1.BackupReasonNoStore, err.Error())
		backupFailures.WithLabelValues(b.Spec.Workspace, tenancyv1.BackupReasonNoStore).Inc()
		return ctrl.Result{}, nil
	}
	if err == nil {
		err = st.Ping(ctx)
	}
	if err != nil {
		// Not a run: an outage of the store does not use up attempts.
		return r.retry(b, tenancyv1.BackupReasonStoreUnreachable, "the backup store does not answer", err)
	}

	// Wait for a slot: restores share the queue's limit.
	if err := r.Backups.acquire(ctx); err != nil {
		return ctrl.Result{}, err
	}
	defer r.Backups.release()

	// Claim the run: from here a crash leaves Running, which the next
	// process cleans up and retries.
	b.Status.Phase = tenancyv1.BackupRunning
	b.Status.Attempts++
	b.Status.StartedAt = ptrTime(time.Now())
	b.Status.Artifact = &tenancyv1.BackupArtifact{Store: st.URL(), Key: artifactKey(b)}
	b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionUnknown, tenancyv1.BackupReasonRunning,
		fmt.Sprintf("run %d: pg_dump of %s streaming into %s", b.Status.Attempts, ws.DatabaseName(), st.URL()))
	if err := r.Status().Patch(ctx, b, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before.Status = *b.Status.DeepCopy()
	before.ResourceVersion = b.ResourceVersion
	r.Backups.active.Store(b.UID, true)
	defer r.Backups.active.Delete(b.UID)
	backupsRunning.Inc()
	defer backupsRunning.Dec()

	if r.Backups.BeforeDump != nil {
		r.Backups.BeforeDump(ctx, b.Name)
	}
	start := time.Now()
	res, err := r.dumpTo(ctx, ws, b, st)
	if err != nil {
		// Put removed what it wrote; make sure of it before saying so.
		if _, perr := st.Purge(ctx, b.Status.Artifact.Key); perr != nil {
			logf.FromContext(ctx).Info("removing a failed backup's upload failed; the next pass retries", "error", perr.Error())
			b.Status.Phase = tenancyv1.BackupRunning
			r.Backups.active.Delete(b.UID)
			return ctrl.Result{RequeueAfter: r.RetryAfter}, nil
		}
		b.Status.Artifact = nil
		reason := tenancyv1.BackupReasonDumpFailed
		switch {
		case errors.Is(err, vault.ErrKeyShredded):
			reason = tenancyv1.BackupReasonKeyShredded
		case external.IsUnreachable(err, external.Vault):
			reason = tenancyv1.BackupReasonVaultUnreachable
		case isStoreError(err):
			reason = tenancyv1.BackupReasonStoreUnreachable
		}
		backupFailures.WithLabelValues(b.Spec.Workspace, reason).Inc()
		res := ctrl.Result{}
		if b.Status.Attempts < maxBackupAttempts && reason != tenancyv1.BackupReasonKeyShredded {
			res, _ = r.retry(b, reason, "backup run "+strconv.Itoa(b.Status.Attempts), err)
		} else {
			b.Status.Phase = tenancyv1.BackupFailed
			b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionFalse, reason, err.Error())
			r.Recorder.Eventf(b, nil, "Warning", "BackupFailed", "Backup", "backup of %s failed after %d runs: %s", ws.Name, b.Status.Attempts, err.Error())
		}
		if err := r.writeStatus(ctx, b); err != nil {
			return ctrl.Result{}, err
		}
		*before = *b.DeepCopy()
		return res, nil
	}
	now := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
	a := b.Status.Artifact
	a.Size, a.SHA256, a.WrappedKey, a.TransitKeyVersion = res.size, res.sha256, res.wrapped, res.version
	a.DumpedAt = &metav1.Time{Time: res.meta.DumpedAt}
	a.Tables = len(res.meta.RowCounts)
	for _, n := range res.meta.RowCounts {
		a.Rows += n
	}
	b.Status.Size = humanBytes(a.Size)
	b.Status.Phase = tenancyv1.BackupCompleted
	b.Status.CompletedAt = &now
	b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionTrue, tenancyv1.BackupReasonCompleted,
		fmt.Sprintf("%s of %d tables (%d rows) encrypted with transit key %s v%d in %s", b.Status.Size, a.Tables, a.Rows,
			b.Status.TransitKey, a.TransitKeyVersion, time.Since(start).Round(time.Millisecond)))
	// The artifact is complete: record it even if the object changed since
	// the claim (a finalizer added, a label), or the next pass would take
	// the Backup for a crashed run and purge a good artifact.
	if err := r.writeStatus(ctx, b); err != nil {
		return ctrl.Result{}, err
	}
	*before = *b.DeepCopy()
	observeBackup(ws.Name, time.Since(start), a.Size, now.Time)
	r.Recorder.Eventf(b, nil, "Normal", "BackupCompleted", "Backup", "backup of %s completed: %s", ws.Name, b.Status.Size)
	return ctrl.Result{}, nil
}

// writeStatus writes b's status over the latest copy of b, retrying on
// conflicts: only the run that holds a Backup writes its status while it
// is Running. The one exception is its Workspace's deletion, which marks
// every backup of the workspace, a running one included (expireBackups):
// what it wrote is kept.
func (r *BackupReconciler) writeStatus(ctx context.Context, b *tenancyv1.Backup) error {
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		latest := &tenancyv1.Backup{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(b), latest); err != nil {
			return err
		}
		st := b.Status.DeepCopy()
		keepDeletionMarks(st, &latest.Status)
		latest.Status = *st
		if err := r.Status().Update(ctx, latest); err != nil {
			return err
		}
		b.ObjectMeta = latest.ObjectMeta
		b.Status = *st.DeepCopy()
		return nil
	})
}

// keepDeletionMarks carries into st what the Workspace's deletion wrote on
// the stored status while a run held the Backup: when the workspace was
// deleted, and the deadline afterDeletion set (the earlier expiry wins).
// Without them the backup would outlive the deletion by retainFor.
func keepDeletionMarks(st, stored *tenancyv1.BackupStatus) {
	if stored.WorkspaceDeletedAt == nil {
		return
	}
	st.WorkspaceDeletedAt = stored.WorkspaceDeletedAt.DeepCopy()
	if e := stored.ExpiresAt; e != nil && (st.ExpiresAt == nil || e.Before(st.ExpiresAt)) {
		st.ExpiresAt = e.DeepCopy()
	}
	if st.WorkspaceUID == "" {
		st.WorkspaceUID = stored.WorkspaceUID
	}
	if st.TransitKey == "" {
		st.TransitKey = stored.TransitKey
	}
}

// retry records a failed run and queues the next.
func (r *BackupReconciler) retry(b *tenancyv1.Backup, reason, step string, err error) (ctrl.Result, error) {
	b.Status.Phase = tenancyv1.BackupPending
	b.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionFalse, reason, step+": "+err.Error()+"; retrying")
	return ctrl.Result{RequeueAfter: r.RetryAfter}, nil
}

type dumpResult struct {
	size            int64
	sha256, wrapped string
	version         int
	meta            dump.Metadata
}

// dumpTo streams the workspace's database, encrypted under a new data key,
// into the store at the Backup's key. The plaintext key is dropped on return.
func (r *BackupReconciler) dumpTo(ctx context.Context, ws *tenancyv1.Workspace, b *tenancyv1.Backup, st store.Store) (*dumpResult, error) {
	db, err := r.Backups.tenantDatabase(ctx, ws, ws.DatabaseName())
	if err != nil {
		return nil, err
	}
	key, wrapped, version, err := r.Backups.Vault.DataKey(ctx, b.Status.TransitKey)
	if err != nil {
		return nil, fmt.Errorf("asking Vault for a data key: %w", err)
	}
	defer clear(key)
	level := r.Backups.Compression
	pr, pw := io.Pipe()
	var res *dump.Result
	done := make(chan error, 1)
	go func() {
		var err error
		res, err = dump.Dump(ctx, db, dump.Options{
			PgDump: r.Backups.PgDump, Compression: &level, DataKey: key,
			Header: artifact.Header{TransitKey: b.Status.TransitKey, KeyVersion: version, WrappedKey: wrapped},
		}, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	var body io.Reader = pr
	if hook := r.Backups.DuringUpload; hook != nil {
		body = &firstRead{r: pr, once: func() { hook(ctx, b.Name) }}
	}
	_, putErr := st.Put(ctx, b.Status.Artifact.Key, body)
	pr.CloseWithError(errors.New("the store stopped reading"))
	dumpErr := <-done
	switch {
	case dumpErr != nil:
		return nil, dumpErr
	case putErr != nil:
		return nil, &storeError{err: putErr}
	}
	return &dumpResult{size: res.Size, sha256: res.SHA256, wrapped: wrapped, version: version, meta: res.Metadata}, nil
}

// firstRead calls once after its first successful read.
type firstRead struct {
	r    io.Reader
	once func()
	done bool
}

func (f *firstRead) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if n > 0 && !f.done {
		f.done = true
		f.once()
	}
	return n, err
}

// storeError marks a failure of the store, not of the dump.
type storeError struct{ err error }

func (e *storeError) Error() string { return "writing to the backup store: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

func isStoreError(err error) bool {
	var se *storeError
	return errors.As(err, &se)
}

// tenantDatabase is how a dump or restore connects to database name: as the
// workspace's own role, with the password from its Vault entry.
func (e *BackupEnv) tenantDatabase(ctx context.Context, ws *tenancyv1.Workspace, name string) (dump.Database, error) {
	server, ok := e.DB.Server(ws.Spec.DatabaseServer)
	if !ok {
		return dump.Database{}, fmt.Errorf("database server %q is not in --database-servers", ws.Spec.DatabaseServer)
	}
	kv, err := e.Vault.ReadKV(ctx, ws.VaultPath()+"/"+contract.EntryDatabase)
	if err != nil {
		return dump.Database{}, fmt.Errorf("reading the database credentials: %w", err)
	}
	if kv == nil || kv.Data[contract.DatabasePassword] == "" || kv.Data[contract.DatabaseUser] != ws.DatabaseName() {
		return dump.Database{}, errors.New("Vault holds no valid database credentials for the workspace yet")
	}
	return dump.Database{Host: server.Host, Port: int(server.Port), Name: name,
		User: kv.Data[contract.DatabaseUser], Password: kv.Data[contract.DatabasePassword]}, nil
}

// SetupWithManager registers the controller: its workers are the backup
// queue's slots.
func (r *BackupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.MaxConcurrent == 0 {
		r.MaxConcurrent = 2
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("backup").
		For(&tenancyv1.Backup{}).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.MaxConcurrent,
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](
				500*time.Millisecond, r.RetryAfter),
		}).
		Complete(r)
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

// humanBytes is n for people: 512B, 12.4KiB, 3.0GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + "B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTP"[exp])
}
