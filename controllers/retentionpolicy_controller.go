package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/robfig/cron/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
)

// PolicyError says why a workspace has no effective RetentionPolicy: the
// one it names does not exist, or two policies claim to be the default.
// Nothing is purged for it until that is fixed.
type PolicyError struct {
	Reason  string
	Message string
}

func (e *PolicyError) Error() string { return e.Message }

// resolvePolicy returns the workspace's effective policy: the one it names,
// else the one annotated default, else nil (the built-in defaults). It
// fails with a *PolicyError when the named policy does not exist or more
// than one policy is the default.
func resolvePolicy(ctx context.Context, reader client.Reader, ws *tenancyv1.Workspace) (*tenancyv1.RetentionPolicy, error) {
	if ref := ws.Spec.RetentionPolicyRef; ref != nil {
		p := &tenancyv1.RetentionPolicy{}
		if err := reader.Get(ctx, client.ObjectKey{Name: ref.Name}, p); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, &PolicyError{Reason: tenancyv1.ReasonPolicyNotFound,
					Message: "spec.retentionPolicyRef names RetentionPolicy " + ref.Name + ", which does not exist: nothing is purged until it does"}
			}
			return nil, err
		}
		return p, nil
	}
	var list tenancyv1.RetentionPolicyList
	if err := reader.List(ctx, &list); err != nil {
		return nil, err
	}
	defaults := defaultPolicies(list.Items)
	switch len(defaults) {
	case 0:
		return nil, nil
	case 1:
		return defaults[0], nil
	}
	names := make([]string, len(defaults))
	for i, p := range defaults {
		names[i] = p.Name
	}
	return nil, &PolicyError{Reason: tenancyv1.ReasonConflictingDefaults,
		Message: "RetentionPolicies " + strings.Join(names, " and ") + " are all annotated " + tenancyv1.AnnotationDefaultPolicy +
			"=true: a workspace that names none has no policy, and nothing is purged for it until one annotation is removed"}
}

// defaultPolicies are the policies annotated default=true, by name.
func defaultPolicies(all []tenancyv1.RetentionPolicy) []*tenancyv1.RetentionPolicy {
	var out []*tenancyv1.RetentionPolicy
	for i := range all {
		if all[i].Annotations[tenancyv1.AnnotationDefaultPolicy] == "true" {
			out = append(out, &all[i])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RetentionPolicyReconciler reports each RetentionPolicy's state: how many
// workspaces it governs, and whether it can govern any (a second default
// policy, a schedule that does not parse).
type RetentionPolicyReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
}

// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=retentionpolicies,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=retentionpolicies/status,verbs=get;update;patch

// Reconcile writes one policy's status.
func (r *RetentionPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	p := &tenancyv1.RetentionPolicy{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := p.DeepCopy()
	defer func() {
		patchStatus(ctx, r.Client, before, p, func(p *tenancyv1.RetentionPolicy) tenancyv1.RetentionPolicyStatus { return p.Status }, &result, &retErr)
	}()

	var policies tenancyv1.RetentionPolicyList
	if err := r.List(ctx, &policies); err != nil {
		return ctrl.Result{}, err
	}
	defaults := defaultPolicies(policies.Items)
	isDefault := p.Annotations[tenancyv1.AnnotationDefaultPolicy] == "true"
	var workspaces tenancyv1.WorkspaceList
	if err := r.List(ctx, &workspaces); err != nil {
		return ctrl.Result{}, err
	}
	governed := 0
	for i := range workspaces.Items {
		ws := &workspaces.Items[i]
		if !ws.DeletionTimestamp.IsZero() {
			continue
		}
		if ref := ws.Spec.RetentionPolicyRef; (ref != nil && ref.Name == p.Name) || (ref == nil && isDefault && len(defaults) == 1) {
			governed++
		}
	}
	p.Status.Workspaces = governed
	p.Status.ObservedGeneration = p.Generation

	set := func(status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: tenancyv1.ConditionReady, Status: status,
			Reason: reason, Message: msg, ObservedGeneration: p.Generation})
	}
	switch err := validatePolicy(p); {
	case err != nil:
		set(metav1.ConditionFalse, tenancyv1.ReasonInvalidSchedule, err.Error())
	case isDefault && len(defaults) > 1:
		var others []string
		for _, d := range defaults {
			if d.Name != p.Name {
				others = append(others, d.Name)
			}
		}
		msg := "RetentionPolicy " + strings.Join(others, ", ") + " is also annotated " + tenancyv1.AnnotationDefaultPolicy +
			"=true: workspaces that name no policy get none, and nothing is purged for them, until one annotation is removed"
		if c := meta.FindStatusCondition(before.Status.Conditions, tenancyv1.ConditionReady); c == nil || c.Reason != tenancyv1.ReasonConflictingDefaults {
			r.Recorder.Eventf(p, nil, "Warning", tenancyv1.ReasonConflictingDefaults, "Resolve", "%s", msg)
		}
		set(metav1.ConditionFalse, tenancyv1.ReasonConflictingDefaults, msg)
	default:
		set(metav1.ConditionTrue, tenancyv1.ReasonGoverning, fmt.Sprintf("governs %d workspaces", governed))
	}
	return ctrl.Result{}, nil
}

// validatePolicy checks what the CRD's schema cannot: that the backup
// schedule is a cron expression.
func validatePolicy(p *tenancyv1.RetentionPolicy) error {
	if s := p.Spec.Backups.Schedule; s != "" {
		if _, err := cron.ParseStandard(s); err != nil {
			return fmt.Errorf("spec.backups.schedule %q is not a five-field cron expression: %v", s, err)
		}
	}
	return nil
}

// SetupWithManager registers the controller: a policy is reconciled when
// it, another policy (the default may change hands) or a workspace changes.
func (r *RetentionPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		var list tenancyv1.RetentionPolicyList
		if err := r.List(ctx, &list); err != nil {
			return nil
		}
		out := make([]reconcile.Request, len(list.Items))
		for i := range list.Items {
			out[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])}
		}
		return out
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("retentionpolicy").
		For(&tenancyv1.RetentionPolicy{}).
		Watches(&tenancyv1.RetentionPolicy{}, all).
		// A workspace counts towards a policy by its spec: status changes
		// are not worth a recount.
		Watches(&tenancyv1.Workspace{}, all, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}
