package controllers

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
)

// isResync says whether an update is an informer resync: the same object
// delivered again, unchanged.
func isResync(e event.UpdateEvent) bool {
	return e.ObjectOld.GetResourceVersion() == e.ObjectNew.GetResourceVersion()
}

// metaOrSpecChanged lets through an update that changed what a Workspace
// reconciler acts on: the spec (the generation; setting deletionTimestamp
// bumps it too), labels, annotations (adoption), finalizers, owner
// references or the deletion timestamp. It drops updates that changed only
// the status, such as the reconciler's own status writes: each of those
// would otherwise cost a pass that reads Vault and PostgreSQL to find
// nothing to do. Resyncs pass, so that drift outside Kubernetes is found.
//
// The one finalizer change it drops is the addition of the Workspace's own
// finalizer to a Workspace not being deleted: the reconciler adds it at the
// start of a pass and goes on in that pass (a second pass would only find
// everything it just made).
var metaOrSpecChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return isResync(e) ||
			o.GetGeneration() != n.GetGeneration() ||
			!equality.Semantic.DeepEqual(o.GetDeletionTimestamp(), n.GetDeletionTimestamp()) ||
			(!slices.Equal(o.GetFinalizers(), n.GetFinalizers()) && !onlyOwnFinalizerAdded(o.GetFinalizers(), n.GetFinalizers())) ||
			!equality.Semantic.DeepEqual(o.GetLabels(), n.GetLabels()) ||
			!equality.Semantic.DeepEqual(o.GetAnnotations(), n.GetAnnotations()) ||
			!equality.Semantic.DeepEqual(o.GetOwnerReferences(), n.GetOwnerReferences())
	},
}

// onlyOwnFinalizerAdded says whether now is before with the Workspace
// finalizer appended, as controllerutil.AddFinalizer does.
func onlyOwnFinalizerAdded(before, now []string) bool {
	return len(now) == len(before)+1 && now[len(now)-1] == tenancyv1.WorkspaceFinalizer &&
		!slices.Contains(before, tenancyv1.WorkspaceFinalizer) && slices.Equal(before, now[:len(before)])
}

// notResync drops informer resyncs of secondary objects (children, Backups,
// Integrations, policies). Each informer resyncs on its own jittered clock,
// so without it every workspace would be reconciled once per watched kind
// each --sync-period; the Workspace informer's own resync reconciles each
// once, and that is enough.
var notResync = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool { return !isResync(e) },
}

// childChanged lets through the events of a Workspace's child (namespace,
// quota, Deployment...) that can ask for work: a change by someone else
// (or by Kubernetes, such as a Deployment's status) and a deletion. It
// drops creations, which are the reconciler's own (each costs a pass that
// finds everything in place; at start, ten kinds of children would queue
// every workspace ten times), and resyncs (see notResync).
var childChanged = predicate.Funcs{
	CreateFunc: func(event.CreateEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool { return !isResync(e) },
}

// hostMayMove lets through the Workspace events that can hand a host to
// another Workspace: creation, deletion (requested or done) and spec
// changes. Status writes cannot.
var hostMayMove = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
			!equality.Semantic.DeepEqual(e.ObjectOld.GetDeletionTimestamp(), e.ObjectNew.GetDeletionTimestamp())
	},
}
