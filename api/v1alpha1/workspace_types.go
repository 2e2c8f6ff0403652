package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Plan is the commercial plan of a Workspace. It sizes the tenant's quota and runtime.
// +kubebuilder:validation:Enum=free;starter;pro;enterprise
type Plan string

// The plans, smallest first.
const (
	PlanFree       Plan = "free"
	PlanStarter    Plan = "starter"
	PlanPro        Plan = "pro"
	PlanEnterprise Plan = "enterprise"
)

// DeletionPolicy says what happens to a tenant's data when its Workspace is deleted.
// +kubebuilder:validation:Enum=Delete;Retain
type DeletionPolicy string

const (
	// DeletionPolicyDelete drops the database, role and Vault data: zero residue.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyRetain keeps the database and the Vault data, and drops the runtime.
	DeletionPolicyRetain DeletionPolicy = "Retain"
)

// DeletionExport says where the operator puts an export of the whole
// workspace before it deletes the Workspace.
// +kubebuilder:validation:Enum=BackupStore;None
type DeletionExport string

const (
	// DeletionExportBackupStore exports every table and attachment, as the
	// runtime's workspace export does, into the workspace's backup store,
	// encrypted like a backup, before anything is deleted.
	DeletionExportBackupStore DeletionExport = "BackupStore"
	// DeletionExportNone takes no export.
	DeletionExportNone DeletionExport = "None"
)

// WorkspaceDeletion says what the operator does before it deletes a Workspace.
type WorkspaceDeletion struct {
	// export says where an export of the whole workspace (every table, as
	// JSON, plus attachments, in a zip) goes before the Workspace is
	// deleted: BackupStore, or None. The default is None because an export
	// is a full copy of the tenant's personal data that outlives the
	// Workspace: it is opt-in. With BackupStore the export is encrypted
	// under the workspace's transit key, like a backup, kept in the backup
	// store of the database server as a Backup with reason DeletionExport,
	// and expires and is purged with the workspace's backups (the
	// RetentionPolicy's backups.afterDeletion). Deletion waits until the
	// export is in the store; setting this field to None lets a deletion
	// that waits on a failing export go on without one. Under a
	// RetentionPolicy with backups.shredOnDelete no export is taken: the
	// key that could read it is destroyed at deletion.
	// +kubebuilder:default=None
	// +optional
	Export DeletionExport `json:"export,omitempty"`
}

// WorkspaceOwner is the first user of the tenant.
type WorkspaceOwner struct {
	// email of the first owner. The runtime creates this user with the password
	// in the Secret "initial-owner" of the workspace namespace, and asks for a new
	// password at first login.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+\.[^@\s]+$`
	Email string `json:"email"`

	// name of the first owner, shown in the inbox.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Name string `json:"name,omitempty"`
}

// LocalObjectReference names a cluster-scoped object.
type LocalObjectReference struct {
	// name of the referenced object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// WorkspaceBootstrap says what a new Workspace's database starts from.
type WorkspaceBootstrap struct {
	// fromBackup names a Completed Backup, of this or an earlier (even
	// deleted) Workspace, restored into the new database before the runtime
	// starts. Erasures recorded after the backup was taken are re-applied.
	// +optional
	FromBackup *LocalObjectReference `json:"fromBackup,omitempty"`
}

// WorkspaceRestore asks for an in-place restore of one of the Workspace's
// own backups.
type WorkspaceRestore struct {
	// backup names a Completed Backup of this Workspace. The runtime is
	// scaled to zero, the backup is restored into a new database, the
	// databases are swapped, erasures recorded after the backup are
	// re-applied, and the runtime comes back. A failed restore leaves the
	// current database untouched.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Backup string `json:"backup"`
	// requestID tells two restores of the same backup apart: each
	// (backup, requestID) pair is restored once.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	RequestID string `json:"requestID,omitempty"`
}

// WorkspaceSpec is what a platform team asks for: one isolated tenant.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.databaseServer) || self.databaseServer == oldSelf.databaseServer",message="spec.databaseServer is immutable: a tenant's data stays on the server it was created on"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.bootstrap) == has(self.bootstrap) && (!has(self.bootstrap) || self.bootstrap == oldSelf.bootstrap)",message="spec.bootstrap is immutable: it only says what a new Workspace starts from"
type WorkspaceSpec struct {
	// displayName is the tenant's human name, shown in the inbox.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	DisplayName string `json:"displayName,omitempty"`

	// owner is the first user of the tenant.
	Owner WorkspaceOwner `json:"owner"`

	// plan sizes the tenant: ResourceQuota, LimitRange, runtime replicas and resources.
	// +kubebuilder:default=starter
	// +optional
	Plan Plan `json:"plan,omitempty"`

	// databaseServer names the PostgreSQL server, from the operator's
	// --database-servers file, that holds the tenant's database. It decides data
	// residency and cannot be changed.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	DatabaseServer string `json:"databaseServer"`

	// retentionPolicyRef names the RetentionPolicy that governs the tenant's data.
	// Without it, the RetentionPolicy annotated tenancy.switchboard.dev/default=true applies.
	// +optional
	RetentionPolicyRef *LocalObjectReference `json:"retentionPolicyRef,omitempty"`

	// host is the public DNS name of the tenant's inbox. It defaults to
	// <name>.<operator --base-domain>. Each host serves one Workspace: when two
	// claim the same host, the older keeps it and the newer reports
	// Ready=False HostConflict and gets no Ingress.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$`
	// +optional
	Host string `json:"host,omitempty"`

	// runtimeImage overrides the operator's --runtime-image for this tenant.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[^\s]+$`
	// +optional
	RuntimeImage string `json:"runtimeImage,omitempty"`

	// suspended scales the runtime to zero. All data is kept.
	// +optional
	Suspended bool `json:"suspended,omitempty"`

	// legalHold blocks deletion and any purge of the tenant's data until it is lifted.
	// +optional
	LegalHold bool `json:"legalHold,omitempty"`

	// bootstrap says what the new database starts from. It cannot be
	// changed: use spec.restore to restore an existing Workspace.
	// +optional
	Bootstrap *WorkspaceBootstrap `json:"bootstrap,omitempty"`

	// restore asks for an in-place restore of one of this Workspace's backups.
	// +optional
	Restore *WorkspaceRestore `json:"restore,omitempty"`

	// deletionPolicy says what happens to the data when the Workspace is deleted.
	// Delete drops the database, role and Vault data; Retain keeps the database and
	// the Vault data and drops only the runtime.
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// deletion says what the operator does before it deletes the Workspace,
	// such as exporting it into the backup store.
	// +optional
	Deletion *WorkspaceDeletion `json:"deletion,omitempty"`
}

// WorkspacePhase is a one-word summary of a Workspace's state.
// +kubebuilder:validation:Enum=Provisioning;Ready;Suspended;Deleting;Failed
type WorkspacePhase string

// The phases of a Workspace.
const (
	WorkspaceProvisioning WorkspacePhase = "Provisioning"
	WorkspaceReady        WorkspacePhase = "Ready"
	WorkspaceSuspended    WorkspacePhase = "Suspended"
	WorkspaceDeleting     WorkspacePhase = "Deleting"
	WorkspaceFailed       WorkspacePhase = "Failed"
)

// WorkspaceDatabaseStatus says where the tenant's database lives. The
// credentials are in Vault only.
type WorkspaceDatabaseStatus struct {
	// server is the databaseServer the database was created on.
	Server string `json:"server,omitempty"`
	// name is the PostgreSQL database name; the role has the same name.
	Name string `json:"name,omitempty"`
}

// WorkspaceBackupStatus summarises the Workspace's backups.
type WorkspaceBackupStatus struct {
	// schedule is the cron schedule in force (UTC), from the effective RetentionPolicy.
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// lastScheduleTime is the last schedule slot a Backup was created for.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// nextScheduleTime is when the next scheduled Backup is due.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`
	// lastSuccessful names the newest Completed Backup.
	// +optional
	LastSuccessful string `json:"lastSuccessful,omitempty"`
	// lastSuccessfulTime is when lastSuccessful completed.
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`
}

// RestorePhase is the state of a restore.
type RestorePhase string

// The phases of a restore.
const (
	RestoreRunning   RestorePhase = "Running"
	RestoreSucceeded RestorePhase = "Succeeded"
	RestoreFailed    RestorePhase = "Failed"
)

// WorkspaceRestoreStatus records the last restore (bootstrap or in place).
type WorkspaceRestoreStatus struct {
	// backup is the Backup restored.
	Backup string `json:"backup"`
	// requestID is spec.restore.requestID of the restore, if any.
	// +optional
	RequestID string `json:"requestID,omitempty"`
	// inPlace is true for spec.restore, false for spec.bootstrap.
	// +optional
	InPlace bool `json:"inPlace,omitempty"`
	// phase is Running, Succeeded or Failed.
	Phase RestorePhase `json:"phase"`
	// message says what happened, or why it failed.
	// +optional
	Message string `json:"message,omitempty"`
	// startedAt and completedAt bound the restore.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// tables and rows restored, equal to those recorded at dump time.
	// +optional
	Tables int `json:"tables,omitempty"`
	// +optional
	Rows int64 `json:"rows,omitempty"`
	// erasuresReplayed counts the erasure-ledger entries newer than the
	// backup that were re-applied before the workspace became Ready.
	// +optional
	ErasuresReplayed int `json:"erasuresReplayed,omitempty"`
}

// WorkspaceRetentionStatus says which RetentionPolicy governs the
// workspace, and what its last retention run did.
type WorkspaceRetentionStatus struct {
	// policy is the effective RetentionPolicy ("" for the built-in defaults).
	// +optional
	Policy string `json:"policy,omitempty"`
	// generation is the policy's generation in force.
	// +optional
	Generation int64 `json:"generation,omitempty"`
	// lastRun is when the last complete retention run ended.
	// +optional
	LastRun *metav1.Time `json:"lastRun,omitempty"`
	// lastRunPolicy and lastRunGeneration are the policy the last run enforced.
	// +optional
	LastRunPolicy string `json:"lastRunPolicy,omitempty"`
	// +optional
	LastRunGeneration int64 `json:"lastRunGeneration,omitempty"`
	// rows deleted or anonymised by the last run, per category.
	// +optional
	Rows map[string]int64 `json:"rows,omitempty"`
}

// WorkspaceStatus is what the operator observed.
type WorkspaceStatus struct {
	// phase is a one-word summary: Provisioning, Ready, Suspended, Deleting or Failed.
	// +optional
	Phase WorkspacePhase `json:"phase,omitempty"`

	// observedGeneration is the generation the operator last reconciled without error.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, NamespaceReady, DatabaseReady, VaultReady, OwnerReady, RuntimeReady, Deleting.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// namespace is the tenant's namespace, ws-<name>.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// url is where the tenant's users open the inbox.
	// +optional
	URL string `json:"url,omitempty"`

	// database says where the tenant's database lives.
	// +optional
	Database *WorkspaceDatabaseStatus `json:"database,omitempty"`

	// vaultPath is the tenant's Vault KV v2 subtree.
	// +optional
	VaultPath string `json:"vaultPath,omitempty"`

	// transitKey is the tenant's Vault transit key, ws-<name>-<uid>. Backups
	// are encrypted with it; shredding it makes every copy unreadable.
	// +optional
	TransitKey string `json:"transitKey,omitempty"`

	// backups summarises the Workspace's backups: schedule, last success, next run.
	// +optional
	Backups *WorkspaceBackupStatus `json:"backups,omitempty"`

	// retention names the effective RetentionPolicy and reports the last
	// retention run (condition RetentionEnforced).
	// +optional
	Retention *WorkspaceRetentionStatus `json:"retention,omitempty"`

	// restore records the last restore, from spec.bootstrap or spec.restore.
	// +optional
	Restore *WorkspaceRestoreStatus `json:"restore,omitempty"`

	// initialOwnerSecret names the Secret, in the tenant namespace, holding the
	// first owner's one-time password. Delete it once read; it is not recreated.
	// +optional
	InitialOwnerSecret string `json:"initialOwnerSecret,omitempty"`
}

// Workspace is one tenant: an isolated namespace, its own PostgreSQL database
// and role, its own Vault subtree, policy and auth role, and a runtime.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ws,categories=switchboard
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Plan",type=string,JSONPath=`.spec.plan`,priority=1
// +kubebuilder:printcolumn:name="Namespace",type=string,JSONPath=`.status.namespace`,priority=1
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Last-Backup",type=date,JSONPath=`.status.backups.lastSuccessfulTime`,priority=1
// +kubebuilder:printcolumn:name="Next-Backup",type=string,JSONPath=`.status.backups.nextScheduleTime`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be lower-case letters, digits and '-', start with a letter and end with a letter or digit (it becomes a namespace and PostgreSQL identifiers)"
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 50",message="metadata.name must be at most 50 characters (room for the ws- prefix and PostgreSQL's 63-byte identifiers)"
type Workspace struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired tenant.
	Spec WorkspaceSpec `json:"spec"`
	// status is what the operator observed.
	// +optional
	Status WorkspaceStatus `json:"status,omitempty"`
}

// WorkspaceList is a list of Workspaces.
// +kubebuilder:object:root=true
type WorkspaceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Workspace `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Workspace{}, &WorkspaceList{})
}
