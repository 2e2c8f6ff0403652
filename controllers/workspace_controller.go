// Package controllers holds one reconciler per kind of tenancy.switchboard.dev.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/external"
	"github.com/switchboard-dev/switchboard/controllers/postgres"
	"github.com/switchboard-dev/switchboard/controllers/receipts"
	"github.com/switchboard-dev/switchboard/controllers/specs"
	"github.com/switchboard-dev/switchboard/controllers/vault"
)

// WorkspaceReconciler turns a Workspace into an isolated tenant.
type WorkspaceReconciler struct {
	client.Client
	// APIReader reads around the cache: Secrets, and objects the cache's label
	// selector cannot see.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Settings  specs.Settings
	DB        *postgres.Provisioner
	Vault     *vault.Client
	// Backups takes, restores and schedules backups; nil disables the
	// schedule and restores (tests of other parts).
	Backups *BackupEnv
	// Now is the backup schedule's clock (tests move it); nil is time.Now.
	Now func() time.Time
	// BackupSpread is --periodic-spread: each workspace takes its scheduled
	// backup at its own offset in this window after the slot (clamped to the
	// gap between slots); 0 takes them all at the slot (controllers/spread.go).
	BackupSpread time.Duration
	// Started is when the operator started: backups missed before it are
	// spread over BackupSpread from it, not all taken at once.
	Started time.Time
	// RetryAfter bounds the wait before retrying an unreachable dependency.
	RetryAfter        time.Duration
	ReceiptsNamespace string
	// Receipts is the hash-chained log of every destructive act.
	Receipts      *receipts.Log
	MaxConcurrent int
	// BeforeDeletionStep, if set, is called before each deletion step. Tests
	// use it to stop the operator partway through a deletion.
	BeforeDeletionStep func(ctx context.Context, workspace, step string)
}

// workspaceScope is the state of one reconcile pass.
type workspaceScope struct {
	ws *tenancyv1.Workspace
	// failed is set when any phase could not finish; observedGeneration then stays.
	failed bool
	// terminal is set for errors only a spec or configuration change can fix.
	terminal bool
	// holdRuntime keeps the runtime at zero replicas while a restore runs.
	holdRuntime bool
	// database, once started, is the database and role being ensured in the
	// background while the Vault phase runs (startDatabase).
	database *databaseFuture
}

// databaseFuture is the result of an EnsureDatabase running beside the
// Vault phase: the two are independent, and CREATE DATABASE is the
// slowest step of a new workspace.
type databaseFuture struct {
	done    chan struct{}
	created bool
	err     error
}

func (f *databaseFuture) wait() (bool, error) {
	<-f.done
	return f.created, f.err
}

type workspacePhase func(ctx context.Context, s *workspaceScope) (ctrl.Result, error)

// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=workspaces,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=workspaces/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=workspaces/finalizers,verbs=update
// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=integrations,verbs=delete
// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=retentionpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=backups,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=backups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=namespaces;serviceaccounts;resourcequotas;limitranges;services;configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies;ingresses,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Reconcile brings one Workspace towards its spec.
func (r *WorkspaceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	ws := &tenancyv1.Workspace{}
	if err := r.Get(ctx, req.NamespacedName, ws); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	log := logf.FromContext(ctx).WithValues("workspace", klogRef(ws))
	ctx = logf.IntoContext(ctx, log)

	if ws.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(ws, tenancyv1.WorkspaceFinalizer) {
		patch := client.MergeFrom(ws.DeepCopy())
		controllerutil.AddFinalizer(ws, tenancyv1.WorkspaceFinalizer)
		// The finalizer is stored before anything outside the cluster is
		// made; this pass goes on from the patched object (metaOrSpecChanged
		// drops the patch's update event, which would only start a pass that
		// finds everything in place).
		if err := r.Patch(ctx, ws, patch); err != nil {
			return ctrl.Result{}, err
		}
	}

	s := &workspaceScope{ws: ws}
	before := ws.DeepCopy()
	defer func() {
		if patchStatus(ctx, r.Client, before, ws, func(ws *tenancyv1.Workspace) tenancyv1.WorkspaceStatus { return ws.Status }, &result, &retErr) {
			r.announce(before, ws)
		}
	}()

	if !ws.DeletionTimestamp.IsZero() {
		if !controllerutil.ContainsFinalizer(ws, tenancyv1.WorkspaceFinalizer) {
			return ctrl.Result{}, nil
		}
		return r.reconcileDelete(ctx, s)
	}

	defer func() {
		if s.database != nil {
			_, _ = s.database.wait() // never leave it running past the pass
		}
	}()
	phases := []workspacePhase{
		r.reconcileNamespace,
		r.startDatabase,
		r.reconcileVault,
		// The owner needs only the namespace and Vault: it goes while the
		// database is still being created.
		r.reconcileOwner,
		r.reconcileDatabase,
		r.reconcileRestore,
		r.reconcileRuntime,
		r.reconcileBackups,
	}
	var errs []error
	for _, phase := range phases {
		res, err := phase(ctx, s)
		if err != nil {
			s.failed = true
			errs = append(errs, err)
		}
		result = lowestRequeue(result, res)
	}
	r.summarize(s, before)
	if len(errs) > 0 && !s.terminal {
		log.Info("reconcile incomplete", "error", kerrors.NewAggregate(errs).Error())
	}
	// Dependency outages are reported in conditions and retried with a bounded
	// RequeueAfter, not returned, so the backoff stays bounded and logs stay quiet.
	return result, nil
}

// lowestRequeue combines results, keeping the soonest non-zero requeue.
func lowestRequeue(a, b ctrl.Result) ctrl.Result {
	switch {
	case b.RequeueAfter == 0:
		return a
	case a.RequeueAfter == 0 || b.RequeueAfter < a.RequeueAfter:
		return b
	}
	return a
}

// dependencyError records a failed external call in condType and says when to retry.
func (r *WorkspaceReconciler) dependencyError(s *workspaceScope, condType, step string, err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		// A stale cache read: try again at once, without alarming anyone.
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, fmt.Errorf("%s: %w", step, err)
	}
	reason := tenancyv1.ReasonKubernetesError
	switch {
	case external.IsConflict(err):
		// Only a person can settle whose the object is: look again now and
		// then, quietly (removing it sends no event the operator sees).
		s.terminal = true
		s.ws.SetFalse(condType, tenancyv1.ReasonOwnershipConflict, step+": "+err.Error()+
			"; nothing was written to it. Remove it, or set annotation "+tenancyv1.AnnotationAdoptDataFrom+" to the UID it names to take it over")
		return ctrl.Result{RequeueAfter: r.RetryAfter}, fmt.Errorf("%s: %w", step, err)
	case external.IsUnreachable(err, external.PostgreSQL):
		reason = tenancyv1.ReasonDatabaseUnreachable
	case external.IsUnreachable(err, external.Vault):
		reason = tenancyv1.ReasonVaultUnreachable
	case condType == tenancyv1.ConditionDatabaseReady:
		reason = tenancyv1.ReasonDatabaseError
	case condType == tenancyv1.ConditionVaultReady:
		reason = tenancyv1.ReasonVaultError
	}
	s.ws.SetFalse(condType, reason, step+": "+err.Error())
	return ctrl.Result{RequeueAfter: r.RetryAfter}, fmt.Errorf("%s: %w", step, err)
}

func klogRef(o client.Object) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// SetupWithManager registers the controller. The cache of child objects is
// restricted to those the operator manages (see CacheOptions).
func (r *WorkspaceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.MaxConcurrent == 0 {
		r.MaxConcurrent = 4
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &tenancyv1.Workspace{}, hostIndex, func(o client.Object) []string {
		return []string{o.(*tenancyv1.Workspace).HostFor(r.Settings.BaseDomain)}
	}); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&tenancyv1.Workspace{}, builder.WithPredicates(metaOrSpecChanged)).
		// A Workspace that gives up a host (deleted, or moved to another)
		// hands it to the next claimant.
		Watches(&tenancyv1.Workspace{}, handler.EnqueueRequestsFromMapFunc(r.sharingHost), builder.WithPredicates(hostMayMove)).
		// An Integration whose runtime writes its own tokens changes the
		// workspace's Vault policy.
		Watches(&tenancyv1.Integration{}, handler.EnqueueRequestsFromMapFunc(workspaceOfIntegration), builder.WithPredicates(notResync))
	for _, child := range []client.Object{&corev1.Namespace{}, &corev1.ResourceQuota{}, &corev1.LimitRange{}, &corev1.ServiceAccount{},
		&networkingv1.NetworkPolicy{}, &appsv1.Deployment{}, &corev1.Service{}, &networkingv1.Ingress{}, &policyv1.PodDisruptionBudget{}} {
		b = b.Owns(child, builder.WithPredicates(childChanged))
	}
	return b.
		// A Backup that completes moves status.backups.lastSuccessful; a
		// policy that changes moves the schedule of the workspaces it governs.
		Watches(&tenancyv1.Backup{}, handler.EnqueueRequestsFromMapFunc(workspaceOfBackup), builder.WithPredicates(notResync)).
		Watches(&tenancyv1.RetentionPolicy{}, handler.EnqueueRequestsFromMapFunc(r.governedBy), builder.WithPredicates(notResync)).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.MaxConcurrent,
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](
				500*time.Millisecond, r.RetryAfter),
		}).
		Complete(r)
}

var errNamespaceConflict = errors.New("namespace conflict")

// sharingHost maps a Workspace to the others that claim its host.
func (r *WorkspaceReconciler) sharingHost(ctx context.Context, o client.Object) []reconcile.Request {
	ws := o.(*tenancyv1.Workspace)
	var list tenancyv1.WorkspaceList
	if err := r.List(ctx, &list, client.MatchingFields{hostIndex: ws.HostFor(r.Settings.BaseDomain)}); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, other := range list.Items {
		if other.UID != ws.UID {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&other)})
		}
	}
	return out
}
