package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/specs"
)

const labelWorkspace = tenancyv1.LabelWorkspace

// reconcileNamespace puts the tenant's namespace in place with its quota,
// limits, NetworkPolicies and ServiceAccount.
func (r *WorkspaceReconciler) reconcileNamespace(ctx context.Context, s *workspaceScope) (ctrl.Result, error) {
	ws := s.ws
	ws.Status.Namespace = ws.NamespaceName()

	ns, err := ensureChild(ctx, r.Client, r.APIReader, r.Scheme(), ws, child[*corev1.Namespace]{
		want:     specs.Namespace(ws),
		differs:  func(have, want *corev1.Namespace) bool { return false },
		copyInto: func(have, want *corev1.Namespace) {},
	})
	if err != nil {
		return r.namespaceError(s, err)
	}
	if !ns.DeletionTimestamp.IsZero() {
		// A namespace of an earlier Workspace of the same name is still being removed.
		ws.SetFalse(tenancyv1.ConditionNamespaceReady, tenancyv1.ReasonNamespaceTerminating,
			"namespace "+ns.Name+" is still terminating; waiting for it to go")
		s.failed = true
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	}

	steps := []func() error{
		func() error {
			_, err := ensureChild(ctx, r.Client, r.APIReader, r.Scheme(), ws, child[*corev1.ResourceQuota]{
				want:     specs.ResourceQuota(ws),
				differs:  func(h, w *corev1.ResourceQuota) bool { return !equality.Semantic.DeepEqual(h.Spec.Hard, w.Spec.Hard) },
				copyInto: func(h, w *corev1.ResourceQuota) { h.Spec = w.Spec },
			})
			return err
		},
		func() error {
			_, err := ensureChild(ctx, r.Client, r.APIReader, r.Scheme(), ws, child[*corev1.LimitRange]{
				want:     specs.LimitRange(ws),
				differs:  func(h, w *corev1.LimitRange) bool { return !equality.Semantic.DeepEqual(h.Spec, w.Spec) },
				copyInto: func(h, w *corev1.LimitRange) { h.Spec = w.Spec },
			})
			return err
		},
		func() error {
			return r.ensureNetworkPolicy(ctx, ws, specs.DefaultDenyNetworkPolicy(ws))
		},
		func() error {
			return r.ensureNetworkPolicy(ctx, ws, specs.RuntimeNetworkPolicy(ws, r.Settings))
		},
		func() error {
			_, err := ensureChild(ctx, r.Client, r.APIReader, r.Scheme(), ws, child[*corev1.ServiceAccount]{
				want: specs.ServiceAccount(ws),
				differs: func(h, w *corev1.ServiceAccount) bool {
					return !equality.Semantic.DeepEqual(h.AutomountServiceAccountToken, w.AutomountServiceAccountToken)
				},
				copyInto: func(h, w *corev1.ServiceAccount) { h.AutomountServiceAccountToken = w.AutomountServiceAccountToken },
			})
			return err
		},
	}
	// The children are independent of each other: create them at once (a
	// new workspace waits for the slowest, not for the sum).
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for i, step := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = step()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return r.namespaceError(s, err)
		}
	}
	ws.SetTrue(tenancyv1.ConditionNamespaceReady, tenancyv1.ReasonProvisioned,
		"namespace "+ns.Name+" with quota, limits, default-deny NetworkPolicy and ServiceAccount "+specs.ServiceAccountName)
	return ctrl.Result{}, nil
}

func (r *WorkspaceReconciler) ensureNetworkPolicy(ctx context.Context, ws *tenancyv1.Workspace, want *networkingv1.NetworkPolicy) error {
	_, err := ensureChild(ctx, r.Client, r.APIReader, r.Scheme(), ws, child[*networkingv1.NetworkPolicy]{
		want:     want,
		differs:  func(h, w *networkingv1.NetworkPolicy) bool { return !equality.Semantic.DeepEqual(h.Spec, w.Spec) },
		copyInto: func(h, w *networkingv1.NetworkPolicy) { h.Spec = w.Spec },
	})
	return err
}

func (r *WorkspaceReconciler) namespaceError(s *workspaceScope, err error) (ctrl.Result, error) {
	if errors.Is(err, errNamespaceConflict) {
		s.terminal = true
		s.ws.SetFalse(tenancyv1.ConditionNamespaceReady, tenancyv1.ReasonNamespaceConflict,
			err.Error()+": no credential is handed out until it is gone (delete it, and the operator creates its own)")
		// Nothing announces the stranger's object going away (the cache holds
		// only what the operator manages): look again now and then.
		return ctrl.Result{RequeueAfter: r.RetryAfter}, err
	}
	return r.dependencyError(s, tenancyv1.ConditionNamespaceReady, "provisioning namespace", err)
}
