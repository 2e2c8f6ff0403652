package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/specs"
)

// restoreRequest is a restore the spec asks for.
type restoreRequest struct {
	backup, requestID string
	inPlace           bool
}

// requestedRestore is the restore spec.bootstrap or spec.restore asks for
// that has not run to an end yet, or nil. A bootstrap restore runs once, in
// a new Workspace; an in-place restore once per (backup, requestID).
func requestedRestore(ws *tenancyv1.Workspace) *restoreRequest {
	var req *restoreRequest
	switch {
	case ws.Spec.Restore != nil:
		req = &restoreRequest{backup: ws.Spec.Restore.Backup, requestID: ws.Spec.Restore.RequestID, inPlace: true}
	case ws.Spec.Bootstrap != nil && ws.Spec.Bootstrap.FromBackup != nil:
		req = &restoreRequest{backup: ws.Spec.Bootstrap.FromBackup.Name}
	default:
		return nil
	}
	if st := ws.Status.Restore; st != nil && st.Backup == req.backup && st.RequestID == req.requestID && st.InPlace == req.inPlace &&
		st.Phase != tenancyv1.RestoreRunning {
		return nil
	}
	if !req.inPlace && ws.Status.Restore != nil && ws.Status.Restore.Phase == tenancyv1.RestoreSucceeded {
		return nil // bootstrapped already; a later in-place restore replaced it
	}
	return req
}

// reconcileRestore restores a backup into the workspace's database, from
// spec.bootstrap.fromBackup (before the runtime first starts) or from
// spec.restore (in place). The runtime is held at zero replicas, the
// backup is restored into a scratch database and checked table by table
// against the counts recorded at dump time, the erasures recorded after the
// backup are re-applied, and only then is the scratch database swapped in.
// A restore that fails leaves the current database untouched.
func (r *WorkspaceReconciler) reconcileRestore(ctx context.Context, s *workspaceScope) (ctrl.Result, error) {
	ws := s.ws
	req := requestedRestore(ws)
	if req == nil {
		if st := ws.Status.Restore; st != nil && st.Phase == tenancyv1.RestoreFailed && !st.InPlace {
			s.holdRuntime = true // a failed bootstrap leaves an empty database: do not serve it
		}
		return ctrl.Result{}, nil
	}
	s.holdRuntime = true
	st := ws.Status.Restore
	if st == nil || st.Backup != req.backup || st.RequestID != req.requestID || st.InPlace != req.inPlace {
		st = &tenancyv1.WorkspaceRestoreStatus{Backup: req.backup, RequestID: req.requestID, InPlace: req.inPlace,
			Phase: tenancyv1.RestoreRunning, StartedAt: ptrTime(time.Now())}
		ws.Status.Restore = st
		// Show the restore, and hold the runtime down, before it starts:
		// the pass that restores writes its status only at its end.
		st.Message = "restore of Backup " + req.backup + " requested; holding the runtime at 0 replicas"
		ws.SetFalse(tenancyv1.ConditionRestored, tenancyv1.ReasonRestoring, st.Message)
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	waiting := func(msg string, after time.Duration) (ctrl.Result, error) {
		st.Message = msg
		ws.SetFalse(tenancyv1.ConditionRestored, tenancyv1.ReasonRestoring, msg)
		return ctrl.Result{RequeueAfter: after}, nil
	}
	fail := func(msg string) (ctrl.Result, error) {
		st.Phase, st.Message, st.CompletedAt = tenancyv1.RestoreFailed, msg, ptrTime(time.Now())
		s.failed, s.terminal = true, true
		ws.SetFalse(tenancyv1.ConditionRestored, tenancyv1.ReasonRestoreFailed, msg)
		r.Recorder.Eventf(ws, nil, "Warning", tenancyv1.EventRestoreFailed, "Restore", "restore of Backup %s failed: %s", req.backup, msg)
		if req.inPlace {
			s.holdRuntime = false // the old database is untouched: serve it again
		}
		return ctrl.Result{}, nil
	}
	if r.Backups == nil {
		return fail("the operator has no backup support configured")
	}
	if !ws.IsTrue(tenancyv1.ConditionDatabaseReady) || !ws.IsTrue(tenancyv1.ConditionVaultReady) {
		return waiting("waiting for the database and Vault before restoring Backup "+req.backup, 0)
	}

	b := &tenancyv1.Backup{}
	if err := r.Get(ctx, client.ObjectKey{Name: req.backup}, b); err != nil {
		if apierrors.IsNotFound(err) {
			return fail("Backup " + req.backup + " does not exist")
		}
		return ctrl.Result{}, err
	}
	switch {
	case b.Spec.Reason == tenancyv1.BackupReasonDeletionExport:
		return fail("Backup " + b.Name + " is a deletion export (a zip of every table), not a database backup: it cannot be restored")
	case b.Status.Phase != tenancyv1.BackupCompleted:
		return fail(fmt.Sprintf("Backup %s is %s, not Completed", b.Name, b.Status.Phase))
	case req.inPlace && b.Status.WorkspaceUID != string(ws.UID):
		return fail("Backup " + b.Name + " is not a backup of this Workspace; restore another workspace's backup into a new Workspace with spec.bootstrap.fromBackup")
	}

	// The runtime must be down: nothing may write to the database that is
	// about to be replaced.
	dep := &appsv1.Deployment{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: ws.NamespaceName(), Name: specs.RuntimeName}, dep); err == nil && ownedBy(dep, ws) {
		if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 0 || dep.Status.Replicas != 0 {
			return waiting("scaling the runtime to 0 before restoring Backup "+req.backup, 0) // the runtime phase scales it down; its update requeues
		}
	} else if client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	if !r.Backups.tryAcquire() {
		return waiting("queued: --max-concurrent-backups backups and restores are running", 5*time.Second)
	}
	defer r.Backups.release()
	backupsRunning.Inc()
	defer backupsRunning.Dec()

	logf.FromContext(ctx).Info("restoring", "backup", b.Name, "inPlace", req.inPlace)
	res, err := r.Backups.restoreScratch(ctx, ws, b, "restore", true)
	var rejected *errRejected
	switch {
	case errors.As(err, &rejected):
		return fail("the artifact was refused and the database is untouched: " + err.Error())
	case err != nil:
		return waiting("restore failed, the database is untouched; retrying: "+err.Error(), r.RetryAfter)
	}
	if err := r.DB.SwapIn(ctx, ws.Spec.DatabaseServer, tenantOf(ws), res.scratch); err != nil {
		return waiting("swapping the restored database in failed; retrying: "+err.Error(), r.RetryAfter)
	}
	st.Phase, st.CompletedAt = tenancyv1.RestoreSucceeded, ptrTime(time.Now())
	st.Tables, st.Rows, st.ErasuresReplayed = res.tables, res.rows, res.erasures
	st.Message = fmt.Sprintf("restored Backup %s (dumped %s): %d tables, %d rows, each table's count equal to the dump's; %d later erasures re-applied",
		b.Name, b.Status.Artifact.DumpedAt.UTC().Format(time.RFC3339), res.tables, res.rows, res.erasures)
	ws.SetTrue(tenancyv1.ConditionRestored, tenancyv1.ReasonRestored, st.Message)
	r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventRestored, "Restore", "%s", st.Message)
	s.holdRuntime = false
	return ctrl.Result{}, nil
}
