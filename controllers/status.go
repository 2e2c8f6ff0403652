package controllers

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// patchStatus writes after's status once per pass, and not at all when
// status(after) equals status(before). The patch carries the
// resourceVersion the pass started from, so a pass that read a stale copy
// from the cache gets a conflict instead of overwriting a newer status.
// written says whether after's status is now what the API server holds.
func patchStatus[T client.Object, S any](ctx context.Context, c client.Client, before, after T, status func(T) S,
	result *ctrl.Result, retErr *error) (written bool) {
	if equality.Semantic.DeepEqual(status(before), status(after)) {
		return true
	}
	err := c.Status().Patch(ctx, after, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	switch {
	case err == nil:
		return true
	case apierrors.IsNotFound(err):
		return false
	case apierrors.IsConflict(err):
		// This pass started from a stale copy. The change that made it stale
		// queues the next pass at once; the requeue is a backstop that skips
		// the failure backoff.
		*result, *retErr = ctrl.Result{RequeueAfter: time.Second}, nil
	default:
		*retErr = kerrors.NewAggregate([]error{*retErr, err})
	}
	return false
}
