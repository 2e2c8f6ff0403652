package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Duration is a whole number of days or hours, such as 730d or 48h.
// +kubebuilder:validation:Pattern=`^[0-9]{1,5}[dh]$`
// +kubebuilder:validation:MaxLength=6
type Duration string

// DataCategory is a category of tenant data, as defined by the runtime schema.
// +kubebuilder:validation:Enum=conversations;deliveryEvents;usageEvents;auditLog;financialRecords;contacts;sessions
type DataCategory string

// RetentionAction is what happens to a row once it is older than retainFor.
// +kubebuilder:validation:Enum=Delete;Anonymize
type RetentionAction string

// The retention actions.
const (
	RetentionDelete    RetentionAction = "Delete"
	RetentionAnonymize RetentionAction = "Anonymize"
)

// CategoryRetention says how long one category of data lives.
type CategoryRetention struct {
	// category of data, as defined by the runtime schema
	// (runtime/privacy/retention maps each to its tables).
	Category DataCategory `json:"category"`
	// retainFor is how long a row lives, in days (730d) or hours (48h).
	RetainFor Duration `json:"retainFor"`
	// action is what happens to an older row: Delete, or Anonymize (keep it without personal data).
	// +kubebuilder:default=Delete
	// +optional
	Action RetentionAction `json:"action,omitempty"`
}

// BackupRetention says when backups are taken and how long they live.
type BackupRetention struct {
	// schedule is a five-field cron expression, in UTC, of when each
	// governed workspace is backed up. Backups due at once queue behind the
	// operator's --max-concurrent-backups.
	// +kubebuilder:validation:Pattern=`^(\S+\s+){4}\S+$`
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:default="0 3 * * *"
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// retainFor is how long a backup lives after it is taken: its artifact
	// is then purged from the store and the Backup deleted (a workspace
	// under legalHold keeps its backups).
	// +kubebuilder:default="30d"
	// +optional
	RetainFor Duration `json:"retainFor,omitempty"`
	// afterDeletion is how long a workspace's backups live after the workspace is deleted.
	// +kubebuilder:default="90d"
	// +optional
	AfterDeletion Duration `json:"afterDeletion,omitempty"`
	// shredOnDelete destroys the workspace's transit key when the workspace is
	// deleted, so its backups become unreadable at once (crypto-shredding);
	// they become Shredded and their artifacts are purged.
	// +optional
	ShredOnDelete bool `json:"shredOnDelete,omitempty"`
	// verify restores every scheduled backup, once taken, into a scratch
	// database and compares per-table row counts (Backup spec.verify).
	// +optional
	Verify bool `json:"verify,omitempty"`
}

// CredentialsRetention says how long channel credentials outlive a disconnection.
type CredentialsRetention struct {
	// afterDisconnect is how long a disconnected Integration's credentials
	// stay in Vault (so that reconnecting needs no new secret): at most 30d
	// (720h). 0d destroys them at once. Deleting an Integration destroys them
	// at once whatever this says.
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]|[12][0-9]|30)d$') || self.matches('^([0-9]{1,2}|[1-6][0-9]{2}|7[01][0-9]|720)h$')",message="credentials.afterDisconnect must be at most 30d (720h)"
	// +kubebuilder:default="0d"
	// +optional
	AfterDisconnect Duration `json:"afterDisconnect,omitempty"`
}

// DataSubjectRequests says how fast privacy requests are served.
type DataSubjectRequests struct {
	// deadline is the longest time to complete an export or erasure request.
	// The runtime receives it and shows it to admins; not enforced yet: the
	// runtime does not track rights requests until its rights-request queue
	// lands.
	// +kubebuilder:default="30d"
	// +optional
	Deadline Duration `json:"deadline,omitempty"`
}

// RetentionPolicySpec says how long each category of data lives.
type RetentionPolicySpec struct {
	// categories lists the retention of each category of data. A category not
	// listed is kept until the workspace is deleted. The operator enforces
	// them every --retention-interval; a change that would remove more rows
	// than the generation in force waits until its plan is approved
	// (status.plan, annotation tenancy.switchboard.dev/approve-plan).
	// +listType=map
	// +listMapKey=category
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Categories []CategoryRetention `json:"categories,omitempty"`
	// backups says when backups are taken and how long they live.
	// +optional
	Backups BackupRetention `json:"backups,omitempty"`
	// credentials says how long channel credentials outlive a disconnection.
	// +optional
	Credentials CredentialsRetention `json:"credentials,omitempty"`
	// dataSubjectRequests says how fast privacy requests are served. Not
	// enforced yet.
	// +optional
	DataSubjectRequests DataSubjectRequests `json:"dataSubjectRequests,omitempty"`
}

// WorkspaceRows is one workspace's share of a retention plan.
type WorkspaceRows struct {
	// workspace is the Workspace's name.
	Workspace string `json:"workspace"`
	// rows the new generation would delete or anonymise there, beyond what
	// the generation in force would.
	Rows int64 `json:"rows"`
}

// RetentionPlan is what a stricter generation of a policy would remove,
// beyond the generation in force, computed before any row goes.
type RetentionPlan struct {
	// generation is the policy generation planned.
	Generation int64 `json:"generation"`
	// hash identifies the plan; approve it with the annotation
	// tenancy.switchboard.dev/approve-plan=<hash>.
	Hash string `json:"hash"`
	// computedAt is when the rows were counted.
	ComputedAt metav1.Time `json:"computedAt"`
	// rows per category, over every governed workspace.
	// +optional
	Rows map[string]int64 `json:"rows,omitempty"`
	// workspaces counted.
	Workspaces int `json:"workspaces"`
	// largest are the workspaces that lose the most rows, at most ten.
	// +optional
	Largest []WorkspaceRows `json:"largest,omitempty"`
	// configMap, in the operator's receipts namespace, holds the full plan:
	// rows per category per workspace.
	// +optional
	ConfigMap string `json:"configMap,omitempty"`
	// unreachable lists workspaces whose databases could not be counted.
	// +optional
	Unreachable []string `json:"unreachable,omitempty"`
}

// RetentionPolicyStatus is what the operator observed.
type RetentionPolicyStatus struct {
	// enforcedGeneration is the generation whose categories are enforced.
	// A generation that would purge more waits for its plan's approval.
	// +optional
	EnforcedGeneration int64 `json:"enforcedGeneration,omitempty"`
	// enforcedCategories are the categories of enforcedGeneration.
	// +optional
	EnforcedCategories []CategoryRetention `json:"enforcedCategories,omitempty"`
	// plan is the pending plan of a stricter generation.
	// +optional
	Plan *RetentionPlan `json:"plan,omitempty"`
	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions of the policy: Ready is False when another policy is also
	// the default (ConflictingDefaults: nothing is purged for the workspaces
	// that name none) or the backup schedule does not parse.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// workspaces is the number of Workspaces governed by this policy: those
	// that name it and, for the one default policy, those that name none.
	// +optional
	Workspaces int `json:"workspaces,omitempty"`
}

// RetentionPolicy says how long each category of tenant data lives, when
// backups are taken and expire, and how long data outlives a deletion. The
// operator enforces categories, backups and credentials; the field marked
// "not enforced yet" is not. The policy annotated
// tenancy.switchboard.dev/default=true applies to Workspaces that name none.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=rp,categories=switchboard
// +kubebuilder:printcolumn:name="Default",type=string,JSONPath=`.metadata.annotations.tenancy\.switchboard\.dev/default`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Workspaces",type=integer,JSONPath=`.status.workspaces`
// +kubebuilder:printcolumn:name="Backups",type=string,JSONPath=`.spec.backups.schedule`
// +kubebuilder:printcolumn:name="Backup-Retention",type=string,JSONPath=`.spec.backups.retainFor`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RetentionPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the policy.
	Spec RetentionPolicySpec `json:"spec"`
	// status is what the operator observed.
	// +optional
	Status RetentionPolicyStatus `json:"status,omitempty"`
}

// RetentionPolicyList is a list of RetentionPolicies.
// +kubebuilder:object:root=true
type RetentionPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RetentionPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RetentionPolicy{}, &RetentionPolicyList{})
}
