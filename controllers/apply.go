package controllers

import (
	"context"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
)

// child says how to compare and copy the part of an object the operator owns.
type child[T client.Object] struct {
	want T
	// differs says whether have lacks something of want. Fields the API server
	// defaults are ignored by comparing with equality.Semantic.DeepDerivative.
	differs func(have, want T) bool
	// copyInto moves want's owned fields into have.
	copyInto func(have, want T)
}

// ensureChild creates the object if missing and updates it only when its
// owned fields, labels or owner reference differ: an unchanged child costs
// one cached read and no write. It returns the object as stored.
func ensureChild[T client.Object](ctx context.Context, c client.Client, apiReader client.Reader, scheme *runtime.Scheme, owner client.Object, ch child[T]) (T, error) {
	want := ch.want
	if err := controllerutil.SetControllerReference(owner, want, scheme); err != nil {
		return want, err
	}
	have := reflect.New(reflect.TypeOf(want).Elem()).Interface().(T)
	err := c.Get(ctx, client.ObjectKeyFromObject(want), have)
	if apierrors.IsNotFound(err) {
		markOwned(want, owner)
		err = c.Create(ctx, want)
		if !apierrors.IsAlreadyExists(err) {
			if err != nil {
				return want, fmt.Errorf("creating %s %s: %w", kindOf(want), klogRef(want), err)
			}
			return want, nil
		}
		// It exists but the cache cannot see it, e.g. its managed-by label was removed.
		err = apiReader.Get(ctx, client.ObjectKeyFromObject(want), have)
	}
	if err != nil {
		return want, fmt.Errorf("reading %s %s: %w", kindOf(want), klogRef(want), err)
	}
	if !ownedBy(have, owner) {
		return have, fmt.Errorf("%s %s exists and is not managed by this workspace: %w", kindOf(want), klogRef(want), errNamespaceConflict)
	}
	if metav1.GetControllerOf(have) != nil &&
		equality.Semantic.DeepDerivative(want.GetLabels(), have.GetLabels()) &&
		equality.Semantic.DeepDerivative(want.GetAnnotations(), have.GetAnnotations()) &&
		!ch.differs(have, want) {
		return have, nil
	}
	labels := have.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	for k, v := range want.GetLabels() {
		labels[k] = v
	}
	have.SetLabels(labels)
	ann := have.GetAnnotations()
	if ann == nil && len(want.GetAnnotations()) > 0 {
		ann = map[string]string{}
	}
	for k, v := range want.GetAnnotations() {
		ann[k] = v
	}
	have.SetAnnotations(ann)
	if metav1.GetControllerOf(have) == nil {
		if err := controllerutil.SetControllerReference(owner, have, scheme); err != nil {
			return have, err
		}
	}
	ch.copyInto(have, want)
	logf.FromContext(ctx).Info("updating a child whose owned fields differ from the spec", "kind", kindOf(want), "object", klogRef(want))
	if err := c.Update(ctx, have); err != nil {
		return have, fmt.Errorf("updating %s %s: %w", kindOf(want), klogRef(want), err)
	}
	return have, nil
}

// markOwned writes the ownership mark, the owner's UID, on an object about to
// be created. It is written at creation only: an object found later is never
// given the mark, so the mark proves the operator made it for this owner.
func markOwned(obj, owner client.Object) {
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[tenancyv1.AnnotationWorkspaceUID] = string(owner.GetUID())
	obj.SetAnnotations(ann)
}

// ownedBy says whether obj was made for owner, a Workspace: it has owner as
// its controller, or no controller and owner's ownership mark (an object left
// by a crash between its creation and its owner reference). Labels prove
// nothing: anyone who may create the object may set them. Nor does a
// controller reference that carries the UID but names another kind: the
// ownership mark guard (config/policy/ownership_mark_guard.yaml) keeps only
// the mark and controller references to Workspaces from other users.
func ownedBy(obj, owner client.Object) bool {
	if ref := metav1.GetControllerOf(obj); ref != nil {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		return err == nil && gv.Group == tenancyv1.GroupVersion.Group && ref.Kind == "Workspace" && ref.UID == owner.GetUID()
	}
	uid := obj.GetAnnotations()[tenancyv1.AnnotationWorkspaceUID]
	return uid != "" && uid == string(owner.GetUID())
}

func kindOf(o client.Object) string {
	t := reflect.TypeOf(o)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}
