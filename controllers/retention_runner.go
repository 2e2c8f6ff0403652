package controllers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/external"
	"github.com/switchboard-dev/switchboard/controllers/receipts"
	"github.com/switchboard-dev/switchboard/runtime/privacy/retention"
)

var retentionRows = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "switchboard_retention_rows_total",
	Help: "Rows the retention runs deleted or anonymised, by category and action.",
}, []string{"category", "action"})

func init() {
	metrics.Registry.MustRegister(retentionRows)
}

// RetentionReconciler enforces each workspace's RetentionPolicy against its
// database: every --retention-interval (each workspace at its own offset in
// the interval, so a thousand workspaces do not purge at once), as the
// tenant's own role, in the bounded batches of runtime/privacy/retention.
// It reports the run in the Workspace's RetentionEnforced condition and
// status.retention. A legal hold, or a policy that is missing or ambiguous,
// stops every purge.
type RetentionReconciler struct {
	client.Client
	APIReader client.Reader
	// Receipts is the hash-chained log of every destructive act.
	Receipts *receipts.Log
	Recorder recorder.EventRecorder
	Backups  *BackupEnv
	// Interval is --retention-interval.
	Interval   time.Duration
	RetryAfter time.Duration
	// Now is the clock (tests move it); nil is time.Now.
	Now func() time.Time
	// Spread is --periodic-spread: runs that fell due before the operator
	// started (missed while it was down) are done at its own offset in this
	// window (at most Interval) after Started, not back to back.
	Spread  time.Duration
	Started time.Time
}

// retentionKeyPath is the Vault KV entry of a workspace's pseudonymisation
// key: outside the tenant's subtree, which its runtime can read, so that a
// tenant cannot undo its own anonymisation.
func retentionKeyPath(ws *tenancyv1.Workspace) string {
	return "retention/" + ws.TransitKeyName()
}

// Reconcile runs retention for one workspace when it is due.
func (r *RetentionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	ws := &tenancyv1.Workspace{}
	if err := r.Get(ctx, req.NamespacedName, ws); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ws.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	if ws.GetCondition(tenancyv1.ConditionRetentionEnforced) == nil &&
		(!ws.IsTrue(tenancyv1.ConditionDatabaseReady) || !ws.IsTrue(tenancyv1.ConditionVaultReady)) {
		// A workspace being provisioned has nothing to enforce yet. Writing
		// its status now would only race the workspace controller's first
		// status write (a conflict costs that pass); the status write that
		// makes it ready brings it back here.
		return ctrl.Result{}, nil
	}
	before := ws.DeepCopy()
	defer func() {
		patchStatus(ctx, r.Client, before, ws, func(ws *tenancyv1.Workspace) tenancyv1.WorkspaceStatus { return ws.Status }, &result, &retErr)
	}()
	now := r.now().UTC()
	st := ws.Status.Retention
	if st == nil {
		st = &tenancyv1.WorkspaceRetentionStatus{}
		ws.Status.Retention = st
	}
	notEnforced := func(reason, msg string, after time.Duration) (ctrl.Result, error) {
		ws.SetFalse(tenancyv1.ConditionRetentionEnforced, reason, msg)
		return ctrl.Result{RequeueAfter: after}, nil
	}

	policy, err := resolvePolicy(ctx, r.Client, ws)
	var perr *PolicyError
	switch {
	case errors.As(err, &perr):
		st.Policy, st.Generation = "", 0
		return notEnforced(perr.Reason, perr.Message, r.Interval)
	case err != nil:
		return ctrl.Result{}, err
	}
	if policy != nil {
		st.Policy, st.Generation = policy.Name, policy.Status.EnforcedGeneration
		if policy.Status.EnforcedGeneration == 0 {
			return notEnforced(tenancyv1.ReasonPlanAwaitingApproval, "RetentionPolicy "+policy.Name+
				" is not in force yet: its plan waits for approval (kubectl describe retentionpolicy "+policy.Name+")", r.Interval)
		}
	} else {
		st.Policy, st.Generation = "", 0
	}
	if ws.Spec.LegalHold {
		return notEnforced(tenancyv1.ReasonLegalHold, "spec.legalHold stops every purge: no row is deleted or anonymised until it is lifted", r.Interval)
	}
	rules, err := rulesOf(policy)
	if err != nil {
		return notEnforced(tenancyv1.ReasonInvalidPolicy, err.Error(), r.Interval)
	}
	if len(rules) == 0 {
		ws.SetTrue(tenancyv1.ConditionRetentionEnforced, tenancyv1.ReasonNothingToPurge,
			"the RetentionPolicy gives no category a retention period: data is kept for the life of the workspace")
		return ctrl.Result{}, nil
	}
	if c := ws.GetCondition(tenancyv1.ConditionDatabaseReady); c != nil && c.Reason == tenancyv1.ReasonDatabaseUnreachable {
		return notEnforced(tenancyv1.ReasonDatabaseUnreachable, "the tenant database is unreachable; the run is retried once it answers: "+c.Message, r.RetryAfter)
	}
	if !ws.IsTrue(tenancyv1.ConditionDatabaseReady) || !ws.IsTrue(tenancyv1.ConditionVaultReady) ||
		(ws.Status.Restore != nil && ws.Status.Restore.Phase == tenancyv1.RestoreRunning) {
		return notEnforced(tenancyv1.ReasonWaitingForDependencies, "waiting for the database and Vault (and for any restore to end)", r.RetryAfter)
	}
	if due := r.due(ws, st); now.Before(due) && st.LastRunGeneration == st.Generation && st.LastRunPolicy == st.Policy {
		if c := ws.GetCondition(tenancyv1.ConditionRetentionEnforced); st.LastRun != nil && (c == nil || c.Status != metav1.ConditionTrue) {
			// A wait that set the condition False in between runs (the
			// database or Vault briefly not ready, a legal hold lifted) is
			// over, and the last run holds.
			ws.SetTrue(tenancyv1.ConditionRetentionEnforced, tenancyv1.ReasonEnforced,
				fmt.Sprintf("RetentionPolicy %s generation %d last enforced at %s; the next run is at %s", policyName(policy), st.Generation,
					st.LastRun.UTC().Format(time.RFC3339), due.UTC().Format(time.RFC3339)))
		}
		return ctrl.Result{RequeueAfter: due.Sub(now) + time.Second}, nil
	}
	// Only the API server can say a run is due: the cache may not show the
	// run that just ended yet.
	fresh := &tenancyv1.Workspace{}
	if err := r.APIReader.Get(ctx, req.NamespacedName, fresh); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if fresh.ResourceVersion != ws.ResourceVersion {
		return ctrl.Result{Requeue: true}, nil
	}

	rep, err := r.enforce(ctx, ws, rules, now)
	if err != nil {
		// Nothing partial counts as enforced: the last run stays the last.
		reason := tenancyv1.ReasonRetentionFailed
		if external.IsUnreachable(err, external.PostgreSQL) || strings.Contains(err.Error(), "connect") {
			reason = tenancyv1.ReasonDatabaseUnreachable
		}
		logf.FromContext(ctx).Info("retention run failed; will retry", "error", err.Error())
		return notEnforced(reason, "retention run failed, and is retried: "+err.Error(), r.RetryAfter)
	}
	st.LastRun = &metav1.Time{Time: now.Truncate(time.Second)}
	st.LastRunPolicy, st.LastRunGeneration = st.Policy, st.Generation
	st.Rows = map[string]int64{}
	var parts []string
	var total int64
	for _, c := range rep.Categories {
		n := c.Rows()
		st.Rows[string(c.Category)] = n
		total += n
		retentionRows.WithLabelValues(string(c.Category), string(c.Action)).Add(float64(n))
		if n > 0 {
			verb := "deleted"
			if c.Action == retention.Anonymize {
				verb = "anonymised"
			}
			parts = append(parts, fmt.Sprintf("%s %d %s rows", verb, n, c.Category))
		}
	}
	for _, c := range rep.Categories {
		logf.FromContext(ctx).V(1).Info("retention category enforced", "category", c.Category, "action", c.Action,
			"cutoff", c.Cutoff, "deleted", c.Deleted.Total(), "anonymized", c.Anonymized.Total(), "batches", c.Batches)
	}
	summary := "nothing was due"
	if len(parts) > 0 {
		details := map[string]any{"policy": policyName(policy), "policyGeneration": st.Generation, "batches": rep.Batches}
		for _, c := range rep.Categories {
			if c.Rows() > 0 {
				details[string(c.Category)] = map[string]any{"action": string(c.Action), "deleted": c.Deleted, "anonymized": c.Anonymized}
			}
		}
		if _, _, err := r.Receipts.AppendOnce(ctx, "retention.run/"+string(ws.UID)+"/"+now.Format(time.RFC3339Nano), receipts.KindRetentionRun,
			ws.Name, string(ws.UID), "RetentionPolicy/"+policyName(policy), details); err != nil {
			// The rows are gone: the next run retries nothing, so say so loudly.
			logf.FromContext(ctx).Error(err, "recording a retention run's receipt failed")
			r.Recorder.Eventf(ws, nil, "Warning", "ReceiptFailed", "Purge", "the receipt of a retention run could not be recorded: %s", err.Error())
		}
		summary = strings.Join(parts, ", ")
		r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventRetentionEnforced, "Purge", "retention run: %s", summary)
	}
	ws.SetTrue(tenancyv1.ConditionRetentionEnforced, tenancyv1.ReasonEnforced,
		fmt.Sprintf("RetentionPolicy %s generation %d enforced at %s: %s (%d batches, longest %s)", policyName(policy), st.Generation,
			now.Format(time.RFC3339), summary, rep.Batches, rep.LongestBatch.Round(time.Millisecond)))
	// A run that removed rows must be recorded even if the Workspace
	// changed meanwhile: write over the latest copy, retrying conflicts.
	cond := ws.GetCondition(tenancyv1.ConditionRetentionEnforced).DeepCopy()
	if err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		latest := &tenancyv1.Workspace{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(ws), latest); err != nil {
			return err
		}
		latest.Status.Retention = st.DeepCopy()
		meta.SetStatusCondition(&latest.Status.Conditions, *cond)
		if err := r.Status().Update(ctx, latest); err != nil {
			return err
		}
		*before, *ws = *latest.DeepCopy(), *latest
		return nil
	}); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{RequeueAfter: r.Interval}, nil
}

func policyName(p *tenancyv1.RetentionPolicy) string {
	if p == nil {
		return "(built-in)"
	}
	return p.Name
}

func (r *RetentionReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// due is when the workspace's next run is: an interval after the last, or,
// for its first, at the workspace's own offset into the interval; a run
// that fell due before the operator started waits for the workspace's
// offset in the spread window after the start (controllers/spread.go).
func (r *RetentionReconciler) due(ws *tenancyv1.Workspace, st *tenancyv1.WorkspaceRetentionStatus) time.Time {
	var due time.Time
	if st.LastRun != nil {
		due = st.LastRun.Add(r.Interval)
	} else {
		h := fnv.New64a()
		h.Write([]byte(ws.UID))
		due = ws.CreationTimestamp.Add(time.Duration(h.Sum64() % uint64(r.Interval)))
	}
	return catchUp(ws, "retention", due, r.Started, min(r.Spread, r.Interval))
}

// rulesOf turns the categories in force of a policy (status.enforcedCategories:
// a stricter generation waits for its plan's approval) into rules; nil has none.
func rulesOf(p *tenancyv1.RetentionPolicy) ([]retention.Rule, error) {
	if p == nil {
		return nil, nil
	}
	return rulesFrom(p.Status.EnforcedCategories)
}

// rulesFrom turns categories into rules.
func rulesFrom(categories []tenancyv1.CategoryRetention) ([]retention.Rule, error) {
	var out []retention.Rule
	for _, c := range categories {
		d, err := c.RetainFor.Parse()
		if err != nil {
			return nil, fmt.Errorf("category %s: %w", c.Category, err)
		}
		action := retention.Delete
		if c.Action == tenancyv1.RetentionAnonymize {
			action = retention.Anonymize
		}
		out = append(out, retention.Rule{Category: retention.Category(c.Category), RetainFor: d, Action: action})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Category < out[j].Category })
	return out, nil
}

// enforce runs the rules against the workspace's database as its own role.
func (r *RetentionReconciler) enforce(ctx context.Context, ws *tenancyv1.Workspace, rules []retention.Rule, now time.Time) (retention.Report, error) {
	db, err := r.Backups.tenantDatabase(ctx, ws, ws.DatabaseName())
	if err != nil {
		return retention.Report{}, err
	}
	key, err := r.pseudonymKey(ctx, ws)
	if err != nil {
		return retention.Report{}, err
	}
	defer clear(key)
	cfg, err := pgxpool.ParseConfig(db.ConnString())
	if err != nil {
		return retention.Report{}, errors.New("the workspace's database credentials do not parse")
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return retention.Report{}, fmt.Errorf("connecting to the workspace's database: %w", err)
	}
	defer pool.Close()
	return retention.Enforce(ctx, pool, rules, now, retention.Options{Key: key})
}

// pseudonymKey is the workspace's anonymisation key, made once.
func (r *RetentionReconciler) pseudonymKey(ctx context.Context, ws *tenancyv1.Workspace) ([]byte, error) {
	vc := r.Backups.Vault
	kv, err := vc.ReadKV(ctx, retentionKeyPath(ws))
	if err != nil {
		return nil, fmt.Errorf("reading the pseudonymisation key: %w", err)
	}
	if kv != nil && kv.Owner == string(ws.UID) {
		if key, err := hex.DecodeString(kv.Data["key"]); err == nil && len(key) == retention.KeySize {
			return key, nil
		}
	}
	if kv != nil && kv.Owner != string(ws.UID) {
		return nil, &external.ConflictError{Object: "Vault entry " + retentionKeyPath(ws), Reason: external.Describe(kv.Owner)}
	}
	key := make([]byte, retention.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := vc.WriteKV(ctx, retentionKeyPath(ws), map[string]string{"key": hex.EncodeToString(key)}, string(ws.UID)); err != nil {
		return nil, fmt.Errorf("storing the pseudonymisation key: %w", err)
	}
	return key, nil
}

// SetupWithManager registers the controller with a worker pool of its own,
// so long purges never hold up provisioning. A policy change reaches the
// workspaces it governs.
func (r *RetentionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Interval <= 0 {
		r.Interval = time.Hour
	}
	governed := &WorkspaceReconciler{Client: r.Client}
	return ctrl.NewControllerManagedBy(mgr).
		Named("retention").
		For(&tenancyv1.Workspace{}).
		Watches(&tenancyv1.RetentionPolicy{}, handler.EnqueueRequestsFromMapFunc(governed.governedBy), builder.WithPredicates(notResync)).
		WithOptions(controller.Options{MaxConcurrentReconciles: 2}).
		Complete(reconcile.Func(r.Reconcile))
}
