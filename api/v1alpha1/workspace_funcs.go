package v1alpha1

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// NamespaceName is the tenant's namespace.
func (ws *Workspace) NamespaceName() string { return contract.Namespace(ws.Name) }

// DatabaseName is the tenant's PostgreSQL database and role name.
func (ws *Workspace) DatabaseName() string { return contract.DatabaseNameOf(ws.Name) }

// VaultName is the name of the tenant's Vault policy and auth role.
func (ws *Workspace) VaultName() string { return contract.VaultName(ws.Name) }

// TransitKeyName is the tenant's transit key. It carries the Workspace UID, so
// a later Workspace of the same name never gets a key that can read an
// earlier one's backups.
func (ws *Workspace) TransitKeyName() string {
	return TransitKeyFor(ws.Name, string(ws.UID))
}

// TransitKeyFor is the transit key of the Workspace of this name and UID.
func TransitKeyFor(name, uid string) string {
	return contract.VaultName(name) + "-" + uid
}

// VaultPath is the tenant's subtree in the KV v2 mount.
func (ws *Workspace) VaultPath() string { return contract.VaultSubtree(ws.Name) }

// EffectivePlan is spec.plan, or starter when the API server did not default it.
func (ws *Workspace) EffectivePlan() Plan {
	if ws.Spec.Plan == "" {
		return PlanStarter
	}
	return ws.Spec.Plan
}

// EffectiveDeletionPolicy is spec.deletionPolicy, or Delete.
func (ws *Workspace) EffectiveDeletionPolicy() DeletionPolicy {
	if ws.Spec.DeletionPolicy == "" {
		return DeletionPolicyDelete
	}
	return ws.Spec.DeletionPolicy
}

// HostFor is spec.host, or <name>.<baseDomain>.
func (ws *Workspace) HostFor(baseDomain string) string {
	if ws.Spec.Host != "" {
		return ws.Spec.Host
	}
	return ws.Name + "." + strings.TrimPrefix(baseDomain, ".")
}

// SetCondition sets one condition, stamping the Workspace's generation.
func (ws *Workspace) SetCondition(condType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&ws.Status.Conditions, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: ws.Generation,
	})
}

// SetTrue sets a condition to True.
func (ws *Workspace) SetTrue(condType, reason, message string) {
	ws.SetCondition(condType, metav1.ConditionTrue, reason, message)
}

// SetFalse sets a condition to False.
func (ws *Workspace) SetFalse(condType, reason, message string) {
	ws.SetCondition(condType, metav1.ConditionFalse, reason, message)
}

// IsTrue says whether a condition is True.
func (ws *Workspace) IsTrue(condType string) bool {
	return meta.IsStatusConditionTrue(ws.Status.Conditions, condType)
}

// GetCondition returns a condition, or nil.
func (ws *Workspace) GetCondition(condType string) *metav1.Condition {
	return meta.FindStatusCondition(ws.Status.Conditions, condType)
}
