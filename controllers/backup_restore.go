package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/backup/artifact"
	"github.com/switchboard-dev/switchboard/controllers/backup/dump"
	"github.com/switchboard-dev/switchboard/controllers/vault"
)

// restored is a backup restored into a scratch database of a workspace.
type restored struct {
	scratch string
	tables  int
	rows    int64
	// erasures counts the ledger entries re-applied.
	erasures int
}

// errRejected marks an artifact that is not what its Backup says: tampered
// with, truncated, or sealed under another key.
type errRejected struct{ err error }

func (e *errRejected) Error() string { return e.err.Error() }
func (e *errRejected) Unwrap() error { return e.err }

// restoreScratch restores b's artifact into a new scratch database of ws
// (purpose "restore" or "verify"), owned by ws's role, and checks that every
// table holds the rows counted when it was dumped. With replay, erasures
// recorded after the dump are then re-applied. On any error the scratch
// database is dropped, so nothing half-restored is left.
func (e *BackupEnv) restoreScratch(ctx context.Context, ws *tenancyv1.Workspace, b *tenancyv1.Backup, purpose string, replay bool) (*restored, error) {
	a := b.Status.Artifact
	if b.Status.Phase != tenancyv1.BackupCompleted || a == nil || a.WrappedKey == "" {
		return nil, fmt.Errorf("Backup %s is %s, not Completed: there is no artifact to restore", b.Name, b.Status.Phase)
	}
	st, err := e.Stores.Open(b.Status.DatabaseServer)
	if err != nil {
		return nil, err
	}
	if st.URL() != a.Store {
		return nil, fmt.Errorf("Backup %s is in store %s, but the operator's store for server %s is now %s", b.Name, a.Store, b.Status.DatabaseServer, st.URL())
	}
	key, err := e.Vault.UnwrapKey(ctx, b.Status.TransitKey, a.WrappedKey)
	if errors.Is(err, vault.ErrKeyShredded) || errors.Is(err, vault.ErrWrappedKeyRejected) {
		return nil, &errRejected{err: fmt.Errorf("unwrapping the data key: %w", err)}
	}
	if err != nil {
		return nil, fmt.Errorf("unwrapping the data key: %w", err)
	}
	defer clear(key)
	rc, err := st.Get(ctx, a.Key)
	if err != nil {
		return nil, &storeError{err: err}
	}
	defer rc.Close()

	if e.BeforeRestore != nil && purpose == "restore" {
		e.BeforeRestore(ctx, ws.Name)
	}
	t := tenantOf(ws)
	scratch, err := e.DB.CreateScratch(ctx, ws.Spec.DatabaseServer, t, purpose)
	if err != nil {
		return nil, fmt.Errorf("creating a scratch database: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			// A fresh context: the restore's may be what failed.
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = e.DB.DropScratch(dctx, ws.Spec.DatabaseServer, t, scratch)
		}
	}()
	db, err := e.tenantDatabase(ctx, ws, scratch)
	if err != nil {
		return nil, err
	}
	meta, counts, err := dump.Restore(ctx, db, dump.RestoreOptions{PgRestore: e.PgRestore, DataKey: key, Owner: ws.DatabaseName()}, rc)
	if err != nil {
		if isArtifactError(err) {
			return nil, &errRejected{err: err}
		}
		return nil, err
	}
	if diff := dump.CountsDiffer(meta.RowCounts, counts); len(diff) > 0 {
		return nil, &errRejected{err: fmt.Errorf("row counts differ from those recorded at dump time: %s", strings.Join(firstN(diff, 5), "; "))}
	}
	out := &restored{scratch: scratch, tables: len(counts)}
	for _, n := range counts {
		out.rows += n
	}
	if replay {
		if e.ReplayErasures == nil {
			return nil, errors.New("no erasure ledger is configured: refusing to restore without re-applying erasures")
		}
		if out.erasures, err = e.ReplayErasures(ctx, ws, b, db); err != nil {
			return nil, fmt.Errorf("re-applying erasures recorded after the backup: %w", err)
		}
	}
	ok = true
	return out, nil
}

// isArtifactError says whether err is the artifact refusing to decrypt.
func isArtifactError(err error) bool {
	for _, target := range []error{artifact.ErrIntegrity, artifact.ErrNotArtifact, artifact.ErrUnsupportedVersion, artifact.ErrWrongKey} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}

// verify restores a Completed backup into a scratch database, compares row
// counts, drops the scratch database and records the result.
func (r *BackupReconciler) verify(ctx context.Context, b *tenancyv1.Backup) (ctrl.Result, error) {
	ws := &tenancyv1.Workspace{}
	if err := r.Get(ctx, client.ObjectKey{Name: b.Spec.Workspace}, ws); err != nil || string(ws.UID) != b.Status.WorkspaceUID || !ws.DeletionTimestamp.IsZero() {
		if client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, err
		}
		b.SetCondition(tenancyv1.BackupConditionVerified, metav1.ConditionFalse, tenancyv1.BackupReasonRestoreFailed,
			"Workspace "+b.Spec.Workspace+" is gone: a verification restore needs its database server and role")
		return ctrl.Result{}, nil
	}
	if err := r.Backups.acquire(ctx); err != nil {
		return ctrl.Result{}, err
	}
	defer r.Backups.release()
	r.Backups.active.Store(b.UID, true)
	defer r.Backups.active.Delete(b.UID)
	backupsRunning.Inc()
	defer backupsRunning.Dec()
	res, err := r.Backups.restoreScratch(ctx, ws, b, "verify", false)
	if err == nil {
		err = r.Backups.DB.DropScratch(ctx, ws.Spec.DatabaseServer, tenantOf(ws), res.scratch)
		if err != nil {
			err = fmt.Errorf("dropping the scratch database: %w", err)
		}
	}
	var rejected *errRejected
	switch {
	case errors.As(err, &rejected):
		b.SetCondition(tenancyv1.BackupConditionVerified, metav1.ConditionFalse, tenancyv1.BackupReasonArtifactRejected,
			"the artifact was refused and nothing was kept: "+err.Error())
		r.Recorder.Eventf(b, nil, "Warning", "VerificationFailed", "Verify", "backup %s failed verification: %s", b.Name, err.Error())
	case err != nil:
		b.SetCondition(tenancyv1.BackupConditionVerified, metav1.ConditionUnknown, tenancyv1.BackupReasonRestoreFailed,
			"verification restore failed; retrying: "+err.Error())
		return ctrl.Result{RequeueAfter: r.RetryAfter}, nil
	default:
		b.SetCondition(tenancyv1.BackupConditionVerified, metav1.ConditionTrue, tenancyv1.BackupReasonRowCountsMatch,
			fmt.Sprintf("restored into a scratch database at %s: %d tables, %d rows, each table's count equal to the dump's; scratch database dropped",
				time.Now().UTC().Format(time.RFC3339), res.tables, res.rows))
	}
	return ctrl.Result{}, nil
}
