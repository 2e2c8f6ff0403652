package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
)

// defaultSchedule applies when no RetentionPolicy governs a workspace.
const defaultSchedule = "0 3 * * *"

// maxMissedSlots bounds the walk over schedule slots missed while the
// operator was down: only the latest one is taken.
const maxMissedSlots = 1 << 16

// AnnotationScheduledFor is the schedule slot a scheduled Backup is for.
const AnnotationScheduledFor = "tenancy.switchboard.dev/scheduled-for"

// reconcileBackups creates the Backup of each schedule slot that is due and
// summarises the workspace's backups in status.backups. The schedule is the
// effective RetentionPolicy's backups.schedule, in UTC. Each workspace's
// backup of a slot is taken at its own offset in --periodic-spread after
// the slot. Slots missed while the operator was down are collapsed into one
// backup, taken at the workspace's offset after the operator started. A
// suspended workspace, or one under legal hold, is backed up all the same.
// The Backup's name is derived from its slot, so a pass that crashes after
// creating it creates nothing twice.
func (r *WorkspaceReconciler) reconcileBackups(ctx context.Context, s *workspaceScope) (ctrl.Result, error) {
	ws := s.ws
	if r.Backups == nil {
		return ctrl.Result{}, nil
	}
	st := ws.Status.Backups
	if st == nil {
		st = &tenancyv1.WorkspaceBackupStatus{}
	}
	defer func() {
		if *st == (tenancyv1.WorkspaceBackupStatus{}) {
			ws.Status.Backups = nil
		} else {
			ws.Status.Backups = st
		}
	}()
	if err := r.lastSuccessfulBackup(ctx, ws, st); err != nil {
		return ctrl.Result{}, err
	}

	// Backups protect data: an unresolved policy (which stops every purge)
	// does not stop them; the built-in schedule applies meanwhile.
	policy, err := resolvePolicy(ctx, r.Client, ws)
	var perr *PolicyError
	if err != nil && !errors.As(err, &perr) {
		return ctrl.Result{}, err
	}
	schedule, verify := defaultSchedule, false
	if policy != nil {
		if policy.Spec.Backups.Schedule != "" {
			schedule = policy.Spec.Backups.Schedule
		}
		verify = policy.Spec.Backups.Verify
	}
	sched, err := cron.ParseStandard(schedule)
	if err != nil {
		st.Schedule, st.NextScheduleTime = schedule, nil
		ws.SetFalse(tenancyv1.ConditionBackupsScheduled, tenancyv1.ReasonInvalidSchedule,
			fmt.Sprintf("backups.schedule %q of the RetentionPolicy does not parse as a five-field cron expression: %v", schedule, err))
		return ctrl.Result{}, nil
	}
	st.Schedule = schedule
	if url := r.Backups.Stores.URL(ws.Spec.DatabaseServer); url == "" {
		st.NextScheduleTime = nil
		ws.SetFalse(tenancyv1.ConditionBackupsScheduled, tenancyv1.ReasonNoBackupStore,
			"no backup store is configured for database server "+ws.Spec.DatabaseServer+": set the operator's --backup-store, or the server's backupStore")
		return ctrl.Result{}, nil
	}
	if !ws.IsTrue(tenancyv1.ConditionDatabaseReady) {
		ws.SetFalse(tenancyv1.ConditionBackupsScheduled, tenancyv1.ReasonWaitingForDependencies, "waiting for the database")
		return ctrl.Result{}, nil
	}

	now := r.now().UTC()
	from := ws.CreationTimestamp.UTC()
	if st.LastScheduleTime != nil {
		from = st.LastScheduleTime.UTC()
	}
	next := sched.Next(from)
	if !next.After(now) {
		slot := next
		for i := 0; i < maxMissedSlots; i++ {
			n := sched.Next(slot)
			if n.After(now) || n.IsZero() {
				break
			}
			slot = n
		}
		if due := r.backupDue(ws, sched, slot); now.Before(due) {
			// The slot has come, but this workspace's turn in the spread
			// window has not (or its missed slot waits its turn after a
			// restart).
			next = slot
		} else {
			if err := r.createScheduledBackup(ctx, ws, slot, verify); err != nil {
				return ctrl.Result{}, err
			}
			st.LastScheduleTime = ptrTime(slot)
			next = sched.Next(slot)
		}
	}
	if next.IsZero() {
		st.NextScheduleTime = nil
		ws.SetFalse(tenancyv1.ConditionBackupsScheduled, tenancyv1.ReasonInvalidSchedule,
			fmt.Sprintf("backups.schedule %q never fires", schedule))
		return ctrl.Result{}, nil
	}
	due := r.backupDue(ws, sched, next)
	st.NextScheduleTime = ptrTime(due)
	at := due.Format(time.RFC3339)
	if !due.Equal(next) {
		at += fmt.Sprintf(" (the %s slot, plus this workspace's offset in the --periodic-spread window)", next.Format("15:04"))
	}
	msg := fmt.Sprintf("%q (UTC); next backup at %s, into %s", schedule, at, r.Backups.Stores.URL(ws.Spec.DatabaseServer))
	if perr != nil {
		msg += "; the built-in schedule applies while the RetentionPolicy is unresolved: " + perr.Message
	}
	ws.SetTrue(tenancyv1.ConditionBackupsScheduled, tenancyv1.ReasonScheduled, msg)
	return ctrl.Result{RequeueAfter: due.Sub(now) + time.Second}, nil
}

// backupDue is when the backup of a slot is taken: at the slot plus the
// workspace's offset in the spread window (at most the gap to the next
// slot), or, for a slot missed before the operator started, at the start
// plus that offset (controllers/spread.go).
func (r *WorkspaceReconciler) backupDue(ws *tenancyv1.Workspace, sched cron.Schedule, slot time.Time) time.Time {
	window := min(r.BackupSpread, scheduleGap(sched.Next, slot))
	due := slot.Add(spreadOffset(ws, "backup", window))
	return catchUp(ws, "backup", due, r.Started, window)
}

func (r *WorkspaceReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// scheduledBackupName is the Backup of one schedule slot.
func scheduledBackupName(ws *tenancyv1.Workspace, slot time.Time) string {
	return ws.Name + "-" + slot.UTC().Format("20060102-1504")
}

// createScheduledBackup creates the Backup of one slot, if it is not there.
func (r *WorkspaceReconciler) createScheduledBackup(ctx context.Context, ws *tenancyv1.Workspace, slot time.Time, verify bool) error {
	b := &tenancyv1.Backup{
		ObjectMeta: metav1.ObjectMeta{
			Name: scheduledBackupName(ws, slot),
			Labels: map[string]string{
				tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue,
				tenancyv1.LabelWorkspace: ws.Name,
			},
			Annotations: map[string]string{AnnotationScheduledFor: slot.UTC().Format(time.RFC3339)},
		},
		Spec: tenancyv1.BackupSpec{Workspace: ws.Name, Reason: tenancyv1.BackupReasonScheduled, Verify: verify},
	}
	err := r.Create(ctx, b)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating scheduled Backup %s: %w", b.Name, err)
	}
	r.Recorder.Eventf(ws, b, "Normal", tenancyv1.EventBackupScheduled, "Backup", "created Backup %s for the %s slot", b.Name, slot.UTC().Format(time.RFC3339))
	return nil
}

// lastSuccessfulBackup finds the workspace's newest Completed Backup and
// keeps the last-success metric in step with it.
func (r *WorkspaceReconciler) lastSuccessfulBackup(ctx context.Context, ws *tenancyv1.Workspace, st *tenancyv1.WorkspaceBackupStatus) error {
	var list tenancyv1.BackupList
	if err := r.List(ctx, &list, client.MatchingFields{backupWorkspaceIndex: ws.Name}); err != nil {
		return err
	}
	var last *tenancyv1.Backup
	for i := range list.Items {
		b := &list.Items[i]
		if b.Status.Phase != tenancyv1.BackupCompleted || b.Status.CompletedAt == nil || b.Status.WorkspaceUID != string(ws.UID) {
			continue
		}
		if last == nil || b.Status.CompletedAt.After(last.Status.CompletedAt.Time) {
			last = b
		}
	}
	if last != nil {
		st.LastSuccessful, st.LastSuccessfulTime = last.Name, last.Status.CompletedAt
		backupLastSuccess.WithLabelValues(ws.Name).Set(float64(last.Status.CompletedAt.Unix()))
	}
	return nil
}

// workspaceOfBackup maps a Backup to its Workspace.
func workspaceOfBackup(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: o.(*tenancyv1.Backup).Spec.Workspace}}}
}

// governedBy maps a RetentionPolicy to the Workspaces it may govern: those
// that name it and, for the default policy (or one that just stopped being
// it), those that name none.
func (r *WorkspaceReconciler) governedBy(ctx context.Context, o client.Object) []reconcile.Request {
	var list tenancyv1.WorkspaceList
	if err := r.List(ctx, &list); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		ws := &list.Items[i]
		if ref := ws.Spec.RetentionPolicyRef; (ref != nil && ref.Name == o.GetName()) || ref == nil {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ws)})
		}
	}
	return out
}
