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
	// reason says why the backup was taken: Scheduled or Manual.
	// +kubebuilder:validation:Enum=Scheduled;Manual
	// +kubebuilder:default=Manual
	// +optional
	Reason string `json:"reason,omitempty"`
}

// BackupPhase is a one-word summary of a Backup's state.
type BackupPhase string

// The phases of a Backup.
const (
	BackupPending   BackupPhase = "Pending"
	BackupRunning   BackupPhase = "Running"
	BackupCompleted BackupPhase = "Completed"
	BackupFailed    BackupPhase = "Failed"
	BackupExpiring  BackupPhase = "Expiring"
)

// BackupArtifact locates an encrypted artifact in the backup store. Not
// written yet: no controller takes backups until the backup controller lands.
type BackupArtifact struct {
	// store is the backup store's URL, without credentials.
	Store string `json:"store,omitempty"`
	// key is the artifact's key in the store.
	Key string `json:"key,omitempty"`
	// size in bytes, after encryption.
	Size int64 `json:"size,omitempty"`
	// sha256 of the encrypted artifact, hex.
	SHA256 string `json:"sha256,omitempty"`
	// transitKeyVersion is the version of the workspace's transit key that wrapped the data key.
	TransitKeyVersion int `json:"transitKeyVersion,omitempty"`
}

// BackupStatus is what the operator observed.
type BackupStatus struct {
	// phase is Pending, Running, Completed, Failed or Expiring.
	// +optional
	Phase BackupPhase `json:"phase,omitempty"`
	// conditions of the backup.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// artifact locates the encrypted artifact. Not written yet.
	// +optional
	Artifact *BackupArtifact `json:"artifact,omitempty"`
	// completedAt is when the artifact was written.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// expiresAt is when the artifact and this object are to be deleted. The
	// operator sets it when the workspace is deleted; nothing deletes an
	// expired Backup yet (the backup controller will).
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// workspaceUID is the UID of the Workspace backed up, so that a later
	// Workspace of the same name is never taken for it. The operator records
	// it when it deletes the Workspace, for a Backup created after that
	// Workspace was.
	// +optional
	WorkspaceUID string `json:"workspaceUID,omitempty"`

	// transitKey is the Vault transit key that can decrypt the artifact.
	// +optional
	TransitKey string `json:"transitKey,omitempty"`

	// workspaceDeletedAt is when the backed-up Workspace was deleted, if it was.
	// +optional
	WorkspaceDeletedAt *metav1.Time `json:"workspaceDeletedAt,omitempty"`
}

// Backup is one encrypted backup of one workspace. It outlives the workspace
// until it expires.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=wsbk,categories=switchboard
// +kubebuilder:printcolumn:name="Workspace",type=string,JSONPath=`.spec.workspace`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Expires",type=date,JSONPath=`.status.expiresAt`
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
