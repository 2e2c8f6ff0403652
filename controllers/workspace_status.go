package controllers

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	parts := partConditions
	if ws.Spec.Restore != nil || (ws.Spec.Bootstrap != nil && ws.Spec.Bootstrap.FromBackup != nil) {
		parts = append(parts[:len(parts):len(parts)], tenancyv1.ConditionRestored)
	}
	for _, t := range parts {
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

// emitTransitions records a warning event for each part condition that
// became False for a problem (not for ordinary progress), or changed problem.
func (r *WorkspaceReconciler) emitTransitions(before, after *tenancyv1.Workspace) {
	for _, t := range partConditions {
		old, now := before.GetCondition(t), after.GetCondition(t)
		if now == nil || (old != nil && old.Status == now.Status && old.Reason == now.Reason) {
			continue
		}
		if now.Status == metav1.ConditionFalse && isProblem(now.Reason) {
			r.Recorder.Eventf(after, nil, "Warning", now.Reason, "Reconcile", "%s: %s", t, now.Message)
		}
	}
}

// isProblem says whether a False reason is worth a warning, as opposed to
// ordinary progress.
func isProblem(reason string) bool {
	switch reason {
	case tenancyv1.ReasonReconciling, tenancyv1.ReasonWaitingForDependencies, tenancyv1.ReasonRolloutInProgress,
		tenancyv1.ReasonSuspended, tenancyv1.ReasonAvailable:
		return false
	}
	return true
}
