package controllers

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/specs"
)

// partConditions are the conditions Ready summarises, in the order they are provisioned.
var partConditions = []string{
	tenancyv1.ConditionNamespaceReady,
	tenancyv1.ConditionVaultReady,
	tenancyv1.ConditionDatabaseReady,
	tenancyv1.ConditionOwnerReady,
	tenancyv1.ConditionRuntimeReady,
}

// summarize sets Ready, phase and observedGeneration from the pass.
func (r *WorkspaceReconciler) summarize(s *workspaceScope, before *tenancyv1.Workspace) {
	ws := s.ws
	var notReady []string
	var first *metav1.Condition
	for _, t := range partConditions {
		c := ws.GetCondition(t)
		if c == nil {
			ws.SetFalse(t, tenancyv1.ReasonReconciling, "not provisioned yet")
			c = ws.GetCondition(t)
		}
		if c.Status == metav1.ConditionTrue {
			continue
		}
		if t == tenancyv1.ConditionRuntimeReady && c.Reason == tenancyv1.ReasonSuspended && ws.Spec.Suspended {
			continue // a suspended runtime is the desired state
		}
		notReady = append(notReady, t)
		if first == nil {
			first = c
		}
	}

	switch {
	case len(notReady) == 0 && ws.Spec.Suspended:
		ws.Status.Phase = tenancyv1.WorkspaceSuspended
		ws.SetTrue(tenancyv1.ConditionReady, tenancyv1.ReasonSuspended, "suspended: the runtime is scaled to 0; all data is kept")
	case len(notReady) == 0:
		ws.Status.Phase = tenancyv1.WorkspaceReady
		ws.SetTrue(tenancyv1.ConditionReady, tenancyv1.ReasonAvailable, "the workspace is ready at "+ws.Status.URL)
	default:
		if s.terminal {
			ws.Status.Phase = tenancyv1.WorkspaceFailed
		} else {
			ws.Status.Phase = tenancyv1.WorkspaceProvisioning
		}
		ws.SetFalse(tenancyv1.ConditionReady, first.Reason,
			fmt.Sprintf("%s not ready: %s", strings.Join(notReady, ", "), first.Message))
	}
	if !s.failed {
		ws.Status.ObservedGeneration = ws.Generation
	}

}

// announce records an event for each transition a user cares about, once
// the status that shows it has been written (a pass whose write conflicts
// announces nothing; the pass after it does).
func (r *WorkspaceReconciler) announce(before, ws *tenancyv1.Workspace) {
	r.emitTransitions(before, ws)
	switch {
	case ws.Status.Phase == before.Status.Phase:
	case ws.Status.Phase == tenancyv1.WorkspaceSuspended:
		r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventSuspended, "Suspend", "suspended: the runtime is scaled to 0; all data is kept")
	case before.Status.Phase == tenancyv1.WorkspaceSuspended:
		r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventResumed, "Resume", "resumed: the runtime scales back to %d replicas", specs.RuntimeReplicas(ws))
	case ws.Status.Phase == tenancyv1.WorkspaceReady:
		r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventProvisioned, "Provision", "the workspace is ready at %s", ws.Status.URL)
	}
}

// emitTransitions records an event for each condition that changed status or
// reason, and for suspension and resumption.
func (r *WorkspaceReconciler) emitTransitions(before, after *tenancyv1.Workspace) {
	for _, t := range append([]string{tenancyv1.ConditionReady}, partConditions...) {
		old, now := before.GetCondition(t), after.GetCondition(t)
		if now == nil || (old != nil && old.Status == now.Status && old.Reason == now.Reason) {
			continue
		}
		if now.Status == metav1.ConditionFalse && isProblem(now.Reason) && t != tenancyv1.ConditionReady {
			r.Recorder.Eventf(after, nil, "Warning", now.Reason, "Reconcile", "%s: %s", t, now.Message)
		}
	}
}

// isProblem says whether a False reason is worth a warning, as opposed to
// ordinary progress.
func isProblem(reason string) bool {
	switch reason {
	case tenancyv1.ReasonReconciling, tenancyv1.ReasonWaitingForDependencies, tenancyv1.ReasonRolloutInProgress,
		tenancyv1.ReasonSuspended, tenancyv1.ReasonNotReady, tenancyv1.ReasonAvailable:
		return false
	}
	return true
}

// patchStatus writes the status once per pass, and not at all when nothing
// changed. The patch carries the resourceVersion the pass started from, so a
// pass that read a stale copy from the cache gets a conflict instead of
// overwriting a newer status.
func (r *WorkspaceReconciler) patchStatus(ctx context.Context, before, after *tenancyv1.Workspace) error {
	if equality.Semantic.DeepEqual(before.Status, after.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, after, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}
