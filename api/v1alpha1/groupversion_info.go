// Package v1alpha1 contains the tenancy.switchboard.dev/v1alpha1 API: Workspace,
// Integration, RetentionPolicy and Backup.
//
// +kubebuilder:object:generate=true
// +groupName=tenancy.switchboard.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "tenancy.switchboard.dev", Version: "v1alpha1"}

	// SchemeBuilder adds the types of this group to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

const (
	// LabelManagedBy marks every object the operator creates.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy.
	ManagedByValue = "switchboard"
	// LabelWorkspace names the Workspace an object belongs to.
	LabelWorkspace = "tenancy.switchboard.dev/workspace"
	// AnnotationApprovePlan, on a RetentionPolicy, approves the plan whose
	// hash it carries (status.plan.hash): only then does a generation that
	// removes more rows take effect.
	AnnotationApprovePlan = "tenancy.switchboard.dev/approve-plan"
	// AnnotationDefaultPolicy marks the RetentionPolicy used by Workspaces that name none.
	AnnotationDefaultPolicy = "tenancy.switchboard.dev/default"
	// AnnotationWorkspaceUID is the ownership mark: the UID of the Workspace an
	// object was created for, written by the operator only when it creates the
	// object. A label says which workspace an object is about; only this mark
	// (or a controller reference) lets the operator adopt an object it finds.
	AnnotationWorkspaceUID = "tenancy.switchboard.dev/workspace-uid"
	// AnnotationAdoptDataFrom, on a Workspace, names the UID of an earlier
	// Workspace of the same name whose retained database, role and Vault data
	// this one may take over (see docs/security.md). Without it, data marked
	// with another UID is never touched.
	AnnotationAdoptDataFrom = "tenancy.switchboard.dev/adopt-data-from-uid"
)
