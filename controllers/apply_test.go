package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
)

func TestOwnedBy(t *testing.T) {
	ws := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "acme", UID: "uid-acme"}}
	controller := func(apiVersion, kind, uid string) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: "acme", UID: types.UID(uid), Controller: ptr.To(true)}
	}
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		refs        []metav1.OwnerReference
		want        bool
	}{
		{name: "its controller", refs: []metav1.OwnerReference{controller("tenancy.switchboard.dev/v1alpha1", "Workspace", "uid-acme")}, want: true},
		{name: "its mark", annotations: map[string]string{tenancyv1.AnnotationWorkspaceUID: "uid-acme"}, want: true},
		{name: "nothing"},
		{name: "an empty mark", annotations: map[string]string{tenancyv1.AnnotationWorkspaceUID: ""}},
		{name: "another Workspace's mark", annotations: map[string]string{tenancyv1.AnnotationWorkspaceUID: "uid-other"}},
		{name: "another Workspace as controller", refs: []metav1.OwnerReference{controller("tenancy.switchboard.dev/v1alpha1", "Workspace", "uid-other")}},
		{
			name:        "another controller outweighs the mark",
			annotations: map[string]string{tenancyv1.AnnotationWorkspaceUID: "uid-acme"},
			refs:        []metav1.OwnerReference{controller("apps/v1", "Deployment", "uid-dep")},
		},
		// The guard leaves controller references to other kinds alone, so
		// the Workspace's UID in one of those proves nothing.
		{name: "its UID as a ConfigMap controller", refs: []metav1.OwnerReference{controller("v1", "ConfigMap", "uid-acme")}},
		{name: "its UID as a Workspace of another group", refs: []metav1.OwnerReference{controller("example.com/v1", "Workspace", "uid-acme")}},
		{
			name: "its UID as a non-controller owner",
			refs: []metav1.OwnerReference{{APIVersion: "tenancy.switchboard.dev/v1alpha1", Kind: "Workspace", Name: "acme", UID: "uid-acme"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ws-acme", Name: "s", Annotations: tc.annotations, OwnerReferences: tc.refs}}
			if got := ownedBy(obj, ws); got != tc.want {
				t.Errorf("ownedBy = %v, want %v", got, tc.want)
			}
		})
	}
}
