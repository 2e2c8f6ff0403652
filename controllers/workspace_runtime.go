package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/specs"
	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// reconcileRuntime puts the runtime's Deployment, Service and Ingress in place
// and reports whether it is available. It waits for the namespace, and for
// the database and Vault, since the runtime cannot start without them.
func (r *WorkspaceReconciler) reconcileRuntime(ctx context.Context, s *workspaceScope) (ctrl.Result, error) {
	ws := s.ws
	ws.Status.URL = specs.URL(ws, r.Settings)
	if !ws.IsTrue(tenancyv1.ConditionNamespaceReady) {
		ws.SetFalse(tenancyv1.ConditionRuntimeReady, tenancyv1.ReasonWaitingForDependencies, "waiting for the namespace")
		return ctrl.Result{}, nil
	}
	if !ws.IsTrue(tenancyv1.ConditionDatabaseReady) || !ws.IsTrue(tenancyv1.ConditionVaultReady) {
		ws.SetFalse(tenancyv1.ConditionRuntimeReady, tenancyv1.ReasonWaitingForDependencies, "waiting for the database and Vault")
		return ctrl.Result{}, nil
	}

	wantDep := specs.RuntimeDeployment(ws, r.Settings)
	if s.holdRuntime {
		wantDep.Spec.Replicas = ptr.To(int32(0))
	}
	retentionEnv, err := r.retentionEnv(ctx, ws)
	if err != nil {
		return ctrl.Result{}, err
	}
	c := &wantDep.Spec.Template.Spec.Containers[0]
	c.Env = append(c.Env, retentionEnv...)
	// The Deployment, Service and disruption budget are independent of each
	// other: apply them at once.
	var (
		dep                    *appsv1.Deployment
		depErr, svcErr, pdbErr error
		wg                     sync.WaitGroup
	)
	wg.Add(3)
	go func() {
		defer wg.Done()
		dep, depErr = ensureChild(ctx, r.Client, r.APIReader, r.Scheme(), ws, child[*appsv1.Deployment]{
			want: wantDep,
			differs: func(h, w *appsv1.Deployment) bool {
				return !equality.Semantic.DeepEqual(h.Spec.Replicas, w.Spec.Replicas) ||
					!equality.Semantic.DeepDerivative(w.Spec.Template, h.Spec.Template) ||
					!equality.Semantic.DeepEqual(h.Spec.Selector, w.Spec.Selector)
			},
			copyInto: func(h, w *appsv1.Deployment) {
				h.Spec.Replicas = w.Spec.Replicas
				h.Spec.Template = w.Spec.Template
				h.Spec.Strategy = w.Spec.Strategy
				h.Spec.RevisionHistoryLimit = w.Spec.RevisionHistoryLimit
			},
		})
	}()
	go func() {
		defer wg.Done()
		_, svcErr = ensureChild(ctx, r.Client, r.APIReader, r.Scheme(), ws, child[*corev1.Service]{
			want: specs.RuntimeService(ws),
			differs: func(h, w *corev1.Service) bool {
				return !equality.Semantic.DeepEqual(h.Spec.Selector, w.Spec.Selector) ||
					!equality.Semantic.DeepDerivative(w.Spec.Ports, h.Spec.Ports)
			},
			copyInto: func(h, w *corev1.Service) { h.Spec.Selector, h.Spec.Ports = w.Spec.Selector, w.Spec.Ports },
		})
	}()
	go func() {
		defer wg.Done()
		_, pdbErr = ensureChild(ctx, r.Client, r.APIReader, r.Scheme(), ws, child[*policyv1.PodDisruptionBudget]{
			want: specs.RuntimeDisruptionBudget(ws),
			differs: func(h, w *policyv1.PodDisruptionBudget) bool {
				return !equality.Semantic.DeepEqual(h.Spec.MaxUnavailable, w.Spec.MaxUnavailable) ||
					!equality.Semantic.DeepEqual(h.Spec.Selector, w.Spec.Selector) || h.Spec.MinAvailable != nil ||
					!equality.Semantic.DeepEqual(h.Spec.UnhealthyPodEvictionPolicy, w.Spec.UnhealthyPodEvictionPolicy)
			},
			copyInto: func(h, w *policyv1.PodDisruptionBudget) { h.Spec = w.Spec },
		})
	}()
	wg.Wait()
	if depErr != nil {
		return r.dependencyError(s, tenancyv1.ConditionRuntimeReady, "applying runtime deployment", depErr)
	}
	if svcErr != nil {
		return r.dependencyError(s, tenancyv1.ConditionRuntimeReady, "applying runtime service", svcErr)
	}
	if pdbErr != nil {
		return r.dependencyError(s, tenancyv1.ConditionRuntimeReady, "applying runtime disruption budget", pdbErr)
	}
	holder, err := r.hostHolder(ctx, ws)
	if err != nil {
		return r.dependencyError(s, tenancyv1.ConditionRuntimeReady, "checking who serves host "+ws.HostFor(r.Settings.BaseDomain), err)
	}
	if holder != nil {
		// Two Ingresses for one host would split or steal its traffic: the
		// older Workspace keeps it, and this one gets none.
		ing := specs.RuntimeIngress(ws, r.Settings)
		if err := r.Get(ctx, client.ObjectKeyFromObject(ing), ing); err == nil && ownedBy(ing, ws) {
			if err := r.Delete(ctx, ing, client.Preconditions{UID: &ing.UID}); client.IgnoreNotFound(err) != nil {
				return r.dependencyError(s, tenancyv1.ConditionRuntimeReady, "removing runtime ingress", err)
			}
		} else if client.IgnoreNotFound(err) != nil {
			return r.dependencyError(s, tenancyv1.ConditionRuntimeReady, "reading runtime ingress", err)
		}
		s.failed, s.terminal = true, true
		ws.SetFalse(tenancyv1.ConditionRuntimeReady, tenancyv1.ReasonHostConflict,
			fmt.Sprintf("host %s is already served by Workspace %s: this one gets no Ingress until spec.host names a free host or %s is gone",
				ws.HostFor(r.Settings.BaseDomain), holder.Name, holder.Name))
		return ctrl.Result{}, nil
	}
	if _, err := ensureChild(ctx, r.Client, r.APIReader, r.Scheme(), ws, child[*networkingv1.Ingress]{
		want: specs.RuntimeIngress(ws, r.Settings),
		differs: func(h, w *networkingv1.Ingress) bool {
			return !equality.Semantic.DeepEqual(h.Spec, w.Spec)
		},
		copyInto: func(h, w *networkingv1.Ingress) { h.Spec = w.Spec },
	}); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionRuntimeReady, "applying runtime ingress", err)
	}

	want := specs.RuntimeReplicas(ws)
	switch {
	case s.holdRuntime:
		ws.SetFalse(tenancyv1.ConditionRuntimeReady, tenancyv1.ReasonRestoring,
			fmt.Sprintf("held at 0 replicas for a restore (%d pods still running)", dep.Status.Replicas))
	case ws.Spec.Suspended:
		if dep.Status.Replicas == 0 {
			ws.SetFalse(tenancyv1.ConditionRuntimeReady, tenancyv1.ReasonSuspended, "suspended: the runtime is scaled to 0; all data is kept")
		} else {
			ws.SetFalse(tenancyv1.ConditionRuntimeReady, tenancyv1.ReasonSuspended,
				fmt.Sprintf("suspending: %d runtime pods still running", dep.Status.Replicas))
		}
	case dep.Status.ObservedGeneration >= dep.Generation && dep.Status.UpdatedReplicas >= want && dep.Status.AvailableReplicas >= want:
		ws.SetTrue(tenancyv1.ConditionRuntimeReady, tenancyv1.ReasonAvailable,
			fmt.Sprintf("%d/%d runtime replicas available", dep.Status.AvailableReplicas, want))
	default:
		msg := fmt.Sprintf("%d/%d runtime replicas available", dep.Status.AvailableReplicas, want)
		var pods corev1.PodList
		if err := r.List(ctx, &pods, client.InNamespace(ws.NamespaceName()), client.MatchingLabels(specs.RuntimeSelector(ws))); err == nil {
			if p := podProblem(pods.Items); p != "" {
				msg += "; " + p
			}
		}
		ws.SetFalse(tenancyv1.ConditionRuntimeReady, tenancyv1.ReasonRolloutInProgress, msg)
	}
	return ctrl.Result{}, nil
}

// retentionEnv is the retention settings the runtime shows its admins and
// its public privacy page: the effective policy's (specs.RetentionEnv), and
// whether backups are taken at all (a store for the database server). A
// policy change rolls the runtime out with the new values.
func (r *WorkspaceReconciler) retentionEnv(ctx context.Context, ws *tenancyv1.Workspace) ([]corev1.EnvVar, error) {
	policy, err := resolvePolicy(ctx, r.Client, ws)
	var perr *PolicyError
	if err != nil && !errors.As(err, &perr) {
		return nil, err
	}
	backups := r.Backups != nil && r.Backups.Stores.URL(ws.Spec.DatabaseServer) != ""
	return append(specs.RetentionEnv(policy), corev1.EnvVar{Name: contract.EnvBackups, Value: strconv.FormatBool(backups)}), nil
}

// hostIndex indexes Workspaces by the host they serve.
const hostIndex = "tenancy.switchboard.dev/host"

// hostHolder returns the Workspace that has the better claim to ws's host,
// or nil if ws has it: the one created first (then the smaller name) among
// all that name it, so every pass of every claimant agrees.
func (r *WorkspaceReconciler) hostHolder(ctx context.Context, ws *tenancyv1.Workspace) (*tenancyv1.Workspace, error) {
	var list tenancyv1.WorkspaceList
	if err := r.List(ctx, &list, client.MatchingFields{hostIndex: ws.HostFor(r.Settings.BaseDomain)}); err != nil {
		return nil, err
	}
	for i := range list.Items {
		o := &list.Items[i]
		if o.UID == ws.UID {
			continue
		}
		if o.CreationTimestamp.Before(&ws.CreationTimestamp) ||
			(o.CreationTimestamp.Equal(&ws.CreationTimestamp) && o.Name < ws.Name) {
			return o, nil
		}
	}
	return nil, nil
}

// podProblem describes the first thing keeping a runtime pod from running,
// so that a user sees it in the Workspace's conditions, not only in pod logs.
func podProblem(pods []corev1.Pod) string {
	for _, p := range pods {
		if !p.DeletionTimestamp.IsZero() {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				return fmt.Sprintf("pod %s is not scheduled: %s", p.Name, c.Message)
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "ContainerCreating":
				return fmt.Sprintf("pod %s: %s (restarts %d)", p.Name, cs.State.Waiting.Reason, cs.RestartCount)
			case cs.LastTerminationState.Terminated != nil && cs.RestartCount > 0:
				t := cs.LastTerminationState.Terminated
				return fmt.Sprintf("pod %s restarted %d times; last exit code %d (%s)", p.Name, cs.RestartCount, t.ExitCode, t.Reason)
			}
		}
	}
	return ""
}
