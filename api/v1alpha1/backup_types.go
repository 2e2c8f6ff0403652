package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BackupSpec names the workspace a backup is of. It cannot be changed.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: a Backup records one artifact"
type BackupSpec struct {
	// workspace is the name of the Workspace backed up. The Backup outlives it
	// until it expires.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=50
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Workspace string `json:"workspace"`
	// reason says why the backup was taken: Scheduled (created by the
	// operator from the RetentionPolicy's schedule), Manual (created by a
	// person or a pipeline: the backup is taken at once, in the queue's
	// turn) or DeletionExport (created by the operator before it deletes a
	// Workspace whose spec.deletion.export is BackupStore: the artifact is
	// a zip of every table and attachment, not a database dump, and cannot
	// be restored).
	// +kubebuilder:validation:Enum=Scheduled;Manual;DeletionExport
	// +kubebuilder:default=Manual
	// +optional
	Reason string `json:"reason,omitempty"`
	// verify restores the backup, once taken, into a scratch database,
	// compares each table's row count with the count recorded at dump time,
	// drops the scratch database, and records the result in the Verified
	// condition.
	// +optional
	Verify bool `json:"verify,omitempty"`
}

// BackupPhase is a one-word summary of a Backup's state.
type BackupPhase string

// The phases of a Backup.
const (
	// BackupPending: waiting for its turn in the queue, or for its Workspace.
	BackupPending BackupPhase = "Pending"
	// BackupRunning: pg_dump is streaming into the store.
	BackupRunning BackupPhase = "Running"
	// BackupCompleted: the artifact is in the store and can be restored.
	BackupCompleted BackupPhase = "Completed"
	// BackupFailed: no artifact was written; the condition Succeeded says why.
	BackupFailed BackupPhase = "Failed"
	// BackupExpiring: the Backup is being deleted; its artifact is purged first.
	BackupExpiring BackupPhase = "Expiring"
	// BackupShredded: the transit key was destroyed (shredOnDelete): the
	// artifact can never be decrypted, and is purged.
	BackupShredded BackupPhase = "Shredded"
)

// Reasons of a Backup.
const (
	BackupReasonScheduled = "Scheduled"
	BackupReasonManual    = "Manual"
	// BackupReasonDeletionExport marks the export the operator takes before
	// it deletes a Workspace (spec.deletion.export: BackupStore). The
	// Workspace controller writes it; the Backup controller leaves it alone.
	BackupReasonDeletionExport = "DeletionExport"
)

// Condition types of a Backup.
const (
	// BackupConditionSucceeded is True once the artifact is complete in the
	// store, False when the backup failed (or is retrying), Unknown while it
	// waits or runs.
	BackupConditionSucceeded = "Succeeded"
	// BackupConditionVerified is True when a verification restore matched
	// every table's row count, False when it did not or could not restore.
	BackupConditionVerified = "Verified"
	// BackupConditionPurged is True once the artifact is proven gone from
	// the store (a stat answers NotFound, no upload parts are left), False
	// while a purge is failing.
	BackupConditionPurged = "Purged"
	// BackupConditionExpiryBlocked is True while the workspace's legalHold
	// keeps an expired backup.
	BackupConditionExpiryBlocked = "ExpiryBlocked"
)

// Condition reasons of a Backup.
const (
	BackupReasonQueued            = "Queued"
	BackupReasonWaitingWorkspace  = "WaitingForWorkspace"
	BackupReasonWorkspaceNotFound = "WorkspaceNotFound"
	BackupReasonRunning           = "Running"
	BackupReasonCompleted         = "Completed"
	BackupReasonStoreUnreachable  = "StoreUnreachable"
	BackupReasonVaultUnreachable  = "VaultUnreachable"
	BackupReasonDumpFailed        = "DumpFailed"
	BackupReasonInterrupted       = "Interrupted"
	BackupReasonNoStore           = "NoStore"
	BackupReasonKeyShredded       = "KeyShredded"
	BackupReasonRowCountsMatch    = "RowCountsMatch"
	BackupReasonRowCountsDiffer   = "RowCountsDiffer"
	BackupReasonRestoreFailed     = "RestoreFailed"
	BackupReasonArtifactRejected  = "ArtifactRejected"
	BackupReasonPurged            = "Purged"
	BackupReasonPurgeFailed       = "PurgeFailed"
	BackupReasonLegalHold         = "LegalHold"
)

// BackupArtifact locates an encrypted artifact in the backup store.
type BackupArtifact struct {
	// store is the backup store's URL, without credentials.
	Store string `json:"store,omitempty"`
	// key is the artifact's key in the store.
	Key string `json:"key,omitempty"`
	// size in bytes, after encryption.
	Size int64 `json:"size,omitempty"`
	// sha256 of the encrypted artifact, hex.
	SHA256 string `json:"sha256,omitempty"`
	// wrappedKey is the backup's data key as the workspace's transit key
	// wrapped it (vault:vN:...). Only that transit key can unwrap it; the
	// artifact's header holds the same value.
	WrappedKey string `json:"wrappedKey,omitempty"`
	// transitKeyVersion is the version of the workspace's transit key that wrapped the data key.
	TransitKeyVersion int `json:"transitKeyVersion,omitempty"`
	// dumpedAt is when the database snapshot was taken: erasures recorded
	// after it are re-applied when the backup is restored.
	DumpedAt *metav1.Time `json:"dumpedAt,omitempty"`
	// tables and rows count what the snapshot held, as recorded in the
	// artifact for verification.
	Tables int   `json:"tables,omitempty"`
	Rows   int64 `json:"rows,omitempty"`
	// rowCounts is the number of rows of each table in a deletion export
	// (a database backup carries its counts in the artifact's header).
	// +optional
	RowCounts map[string]int64 `json:"rowCounts,omitempty"`
}

// BackupStatus is what the operator observed.
type BackupStatus struct {
	// phase is Pending, Running, Completed, Failed, Expiring or Shredded.
	// +optional
	Phase BackupPhase `json:"phase,omitempty"`
	// conditions of the backup: Succeeded, Verified, Purged, ExpiryBlocked.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// artifact locates the encrypted artifact.
	// +optional
	Artifact *BackupArtifact `json:"artifact,omitempty"`
	// size is the artifact's size for people, such as 12.4MiB.
	// +optional
	Size string `json:"size,omitempty"`
	// attempts counts the runs started; an interrupted run is retried up to
	// three times.
	// +optional
	Attempts int `json:"attempts,omitempty"`
	// startedAt is when the last run started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// completedAt is when the artifact was written.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// expiresAt is when the artifact and this object are deleted:
	// completedAt + the RetentionPolicy's backups.retainFor, and once the
	// workspace is deleted no later than deletedAt + backups.afterDeletion.
	// A workspace's legalHold keeps it past expiry (condition ExpiryBlocked).
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// workspaceUID is the UID of the Workspace backed up, so that a later
	// Workspace of the same name is never taken for it.
	// +optional
	WorkspaceUID string `json:"workspaceUID,omitempty"`

	// transitKey is the Vault transit key that can decrypt the artifact.
	// +optional
	TransitKey string `json:"transitKey,omitempty"`

	// databaseServer is the server the workspace's database was on; its
	// store keeps the artifact.
	// +optional
	DatabaseServer string `json:"databaseServer,omitempty"`

	// workspaceDeletedAt is when the backed-up Workspace was deleted, if it was.
	// +optional
	WorkspaceDeletedAt *metav1.Time `json:"workspaceDeletedAt,omitempty"`
}

// Backup is one encrypted backup of one workspace. It outlives the workspace
// until it expires. Creating one with reason Manual takes a backup now;
// deleting one purges its artifact from the store first.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=wsbk,categories=switchboard
// +kubebuilder:printcolumn:name="Workspace",type=string,JSONPath=`.spec.workspace`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`,priority=1
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Size",type=string,JSONPath=`.status.size`
// +kubebuilder:printcolumn:name="Verified",type=string,JSONPath=`.status.conditions[?(@.type=="Verified")].status`,priority=1
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.expiresAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Backup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec names the workspace backed up.
	Spec BackupSpec `json:"spec"`
	// status is what the operator observed.
	// +optional
	Status BackupStatus `json:"status,omitempty"`
}

// BackupList is a list of Backups.
// +kubebuilder:object:root=true
type BackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Backup `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Backup{}, &BackupList{})
}
