package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
)

func TestMetaOrSpecChanged(t *testing.T) {
	base := func() *tenancyv1.Workspace {
		return &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "acme", ResourceVersion: "1", Generation: 1,
			Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"c": "d"}, Finalizers: []string{tenancyv1.WorkspaceFinalizer}}}
	}
	now := metav1.Now()
	for _, tc := range []struct {
		name   string
		change func(ws *tenancyv1.Workspace)
		want   bool
	}{
		{name: "resync (same resourceVersion)", change: func(*tenancyv1.Workspace) {}, want: true},
		{name: "status only", change: func(ws *tenancyv1.Workspace) {
			ws.ResourceVersion = "2"
			ws.Status.Phase = tenancyv1.WorkspaceReady
		}},
		{name: "spec (generation)", change: func(ws *tenancyv1.Workspace) { ws.ResourceVersion, ws.Generation = "2", 2 }, want: true},
		{name: "annotation", change: func(ws *tenancyv1.Workspace) {
			ws.ResourceVersion = "2"
			ws.Annotations[tenancyv1.AnnotationAdoptDataFrom] = "uid"
		}, want: true},
		{name: "label", change: func(ws *tenancyv1.Workspace) { ws.ResourceVersion, ws.Labels = "2", nil }, want: true},
		{name: "finalizer", change: func(ws *tenancyv1.Workspace) { ws.ResourceVersion, ws.Finalizers = "2", nil }, want: true},
		{name: "another finalizer added", change: func(ws *tenancyv1.Workspace) {
			ws.ResourceVersion, ws.Finalizers = "2", append(ws.Finalizers, "example.com/other")
		}, want: true},
		{name: "deletion requested", change: func(ws *tenancyv1.Workspace) { ws.ResourceVersion, ws.DeletionTimestamp = "2", &now }, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, updated := base(), base()
			tc.change(updated)
			if got := metaOrSpecChanged.Update(event.UpdateEvent{ObjectOld: old, ObjectNew: updated}); got != tc.want {
				t.Errorf("metaOrSpecChanged = %v, want %v", got, tc.want)
			}
		})
	}
}

// The reconciler adds its finalizer and goes on in the same pass: the
// update that adds it queues no second pass, but its removal, or the
// addition of anyone else's, does.
func TestOwnFinalizerAdded(t *testing.T) {
	ws := func(rv string, finalizers ...string) *tenancyv1.Workspace {
		return &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "acme", ResourceVersion: rv, Generation: 1, Finalizers: finalizers}}
	}
	for _, tc := range []struct {
		name     string
		old, new *tenancyv1.Workspace
		want     bool
	}{
		{"own finalizer added", ws("1"), ws("2", tenancyv1.WorkspaceFinalizer), false},
		{"own finalizer added after another", ws("1", "x/y"), ws("2", "x/y", tenancyv1.WorkspaceFinalizer), false},
		{"own finalizer removed", ws("1", tenancyv1.WorkspaceFinalizer), ws("2"), true},
		{"another finalizer added", ws("1"), ws("2", "x/y"), true},
		{"own added and another removed", ws("1", "x/y"), ws("2", tenancyv1.WorkspaceFinalizer), true},
	} {
		if got := metaOrSpecChanged.Update(event.UpdateEvent{ObjectOld: tc.old, ObjectNew: tc.new}); got != tc.want {
			t.Errorf("%s: metaOrSpecChanged = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestChildChanged(t *testing.T) {
	ns := func(rv string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ws-acme", ResourceVersion: rv}}
	}
	if childChanged.Create(event.CreateEvent{Object: ns("1")}) {
		t.Error("a child's creation (the reconciler's own) queues a pass")
	}
	if childChanged.Update(event.UpdateEvent{ObjectOld: ns("1"), ObjectNew: ns("1")}) {
		t.Error("a child's resync queues a pass")
	}
	if !childChanged.Update(event.UpdateEvent{ObjectOld: ns("1"), ObjectNew: ns("2")}) {
		t.Error("a child's change queues no pass")
	}
	if !childChanged.Delete(event.DeleteEvent{Object: ns("1")}) {
		t.Error("a child's deletion queues no pass")
	}
}
