package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SetCondition sets one condition, stamping the Backup's generation.
func (b *Backup) SetCondition(condType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&b.Status.Conditions, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: b.Generation,
	})
}

// GetCondition returns a condition, or nil.
func (b *Backup) GetCondition(condType string) *metav1.Condition {
	return meta.FindStatusCondition(b.Status.Conditions, condType)
}

// IsTrue says whether a condition is True.
func (b *Backup) IsTrue(condType string) bool {
	return meta.IsStatusConditionTrue(b.Status.Conditions, condType)
}

// EffectiveReason is spec.reason, or Manual when the API server did not default it.
func (b *Backup) EffectiveReason() string {
	if b.Spec.Reason == "" {
		return BackupReasonManual
	}
	return b.Spec.Reason
}
