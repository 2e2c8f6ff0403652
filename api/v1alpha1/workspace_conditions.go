package v1alpha1

// Condition types of a Workspace.
const (
	// ConditionReady is True when every part of the tenant is in place and the
	// runtime is available (or deliberately suspended).
	ConditionReady = "Ready"
	// ConditionNamespaceReady is True when the namespace, quota, limits,
	// NetworkPolicy and ServiceAccount are in place.
	ConditionNamespaceReady = "NamespaceReady"
	// ConditionDatabaseReady is True when the tenant's database and role exist
	// and PUBLIC cannot connect to it.
	ConditionDatabaseReady = "DatabaseReady"
	// ConditionVaultReady is True when the tenant's Vault subtree, policy,
	// Kubernetes-auth role and transit key exist.
	ConditionVaultReady = "VaultReady"
	// ConditionRuntimeReady is True when the runtime Deployment is available.
	ConditionRuntimeReady = "RuntimeReady"
	// ConditionOwnerReady is True when the first owner's one-time password has
	// been handed out (or was handed out before).
	ConditionOwnerReady = "OwnerReady"
	// ConditionBackupsScheduled is True when scheduled backups are being
	// taken: the schedule parses and a backup store is configured.
	ConditionBackupsScheduled = "BackupsScheduled"
	// ConditionRetentionEnforced reports the last retention run: True with
	// what it purged, False with why nothing is purged (legal hold, a
	// missing or ambiguous policy, an outage).
	ConditionRetentionEnforced = "RetentionEnforced"
	// ConditionRestored reports a restore from spec.bootstrap.fromBackup or
	// spec.restore. While one runs, the runtime is held at zero replicas.
	ConditionRestored = "Restored"
	// ConditionDeleting reports the progress of a deletion, and what blocks it.
	ConditionDeleting = "Deleting"
)

// Condition reasons of a Workspace. Messages that go with them never hold a secret.
const (
	// ReasonReconciling: the operator is working towards the desired state.
	ReasonReconciling = "Reconciling"
	// ReasonProvisioned: the part is in place.
	ReasonProvisioned = "Provisioned"
	// ReasonAvailable: the runtime has its desired replicas available.
	ReasonAvailable = "Available"
	// ReasonRolloutInProgress: the runtime has fewer available replicas than desired.
	ReasonRolloutInProgress = "RolloutInProgress"
	// ReasonSuspended: spec.suspended is true; the runtime is scaled to zero.
	ReasonSuspended = "Suspended"
	// ReasonUnknownDatabaseServer: spec.databaseServer is not in the operator's --database-servers.
	ReasonUnknownDatabaseServer = "UnknownDatabaseServer"
	// ReasonDatabaseUnreachable: the PostgreSQL server did not answer.
	ReasonDatabaseUnreachable = "DatabaseUnreachable"
	// ReasonDatabaseError: the PostgreSQL server answered with an error.
	ReasonDatabaseError = "DatabaseError"
	// ReasonVaultUnreachable: Vault did not answer.
	ReasonVaultUnreachable = "VaultUnreachable"
	// ReasonVaultError: Vault answered with an error.
	ReasonVaultError = "VaultError"
	// ReasonKubernetesError: the Kubernetes API refused a write.
	ReasonKubernetesError = "KubernetesError"
	// ReasonWaitingForDependencies: an earlier phase is not ready yet.
	ReasonWaitingForDependencies = "WaitingForDependencies"
	// ReasonLegalHold: spec.legalHold blocks the deletion.
	ReasonLegalHold = "LegalHold"
	// ReasonDeletionInProgress: the finalizer is removing the tenant.
	ReasonDeletionInProgress = "DeletionInProgress"
	// ReasonNamespaceConflict: the namespace ws-<name>, or an object in it the
	// operator would write, exists and was not made for this Workspace. No
	// credential is handed out until it is gone.
	ReasonNamespaceConflict = "NamespaceConflict"
	// ReasonNamespaceTerminating: the namespace of an earlier Workspace of the
	// same name is still being removed.
	ReasonNamespaceTerminating = "NamespaceTerminating"
	// ReasonOwnershipConflict: a database, role or Vault object of this name
	// exists and is marked for another Workspace UID, or is not marked at all,
	// or is a role with privileges a tenant must never have. Nothing is
	// written to it and nothing is dropped.
	ReasonOwnershipConflict = "OwnershipConflict"
	// ReasonScheduled: backups are scheduled.
	ReasonScheduled = "Scheduled"
	// ReasonInvalidSchedule: the RetentionPolicy's backups.schedule does not parse.
	ReasonInvalidSchedule = "InvalidSchedule"
	// ReasonNoBackupStore: no backup store is configured for the workspace's database server.
	ReasonNoBackupStore = "NoBackupStore"
	// ReasonPolicyNotFound: spec.retentionPolicyRef names a RetentionPolicy
	// that does not exist; nothing is purged until it does.
	ReasonPolicyNotFound = "PolicyNotFound"
	// ReasonConflictingDefaults: more than one RetentionPolicy is annotated
	// as the default; nothing is purged for workspaces that name none.
	ReasonConflictingDefaults = "ConflictingDefaults"
	// ReasonEnforced: the retention run completed.
	ReasonEnforced = "Enforced"
	// ReasonNothingToPurge: the policy gives no category a retention period.
	ReasonNothingToPurge = "NothingToPurge"
	// ReasonRetentionFailed: the retention run failed; it is retried.
	ReasonRetentionFailed = "RetentionFailed"
	// ReasonInvalidPolicy: the policy cannot be enforced as written.
	ReasonInvalidPolicy = "InvalidPolicy"
	// ReasonPlanAwaitingApproval: a stricter generation waits for its plan
	// to be approved; the previous generation stays in force.
	ReasonPlanAwaitingApproval = "PlanAwaitingApproval"
	// ReasonStaleApproval: the approval names a plan that is not the
	// current one.
	ReasonStaleApproval = "StaleApproval"
	// ReasonGoverning: the RetentionPolicy is in force.
	ReasonGoverning = "Governing"
	// ReasonRestoring: a restore is running; the runtime is held down.
	ReasonRestoring = "Restoring"
	// ReasonRestoreFailed: the restore failed; the database it would have
	// replaced is untouched.
	ReasonRestoreFailed = "RestoreFailed"
	// ReasonRestored: the restore completed.
	ReasonRestored = "Restored"
	// ReasonHostConflict: another, older Workspace already serves spec.host.
	ReasonHostConflict = "HostConflict"
	// ReasonExportFailed: the export that spec.deletion.export asks for
	// before deletion failed; deletion waits and retries it.
	ReasonExportFailed = "ExportFailed"
)

// Event reasons of a Workspace.
const (
	EventProvisioned        = "Provisioned"
	EventSuspended          = "Suspended"
	EventResumed            = "Resumed"
	EventDeletionBlocked    = "DeletionBlocked"
	EventDataRetained       = "DataRetained"
	EventDatabaseDropped    = "DatabaseDropped"
	EventVaultDataDestroyed = "VaultDataDestroyed"
	EventTransitKeyShredded = "TransitKeyShredded"
	EventDeleted            = "Deleted"
	EventPasswordRotated    = "DatabasePasswordRotated"
	EventAccessRevoked      = "AccessRevoked"
	EventOwnershipConflict  = "OwnershipConflict"
	EventBackupScheduled    = "BackupScheduled"
	EventRetentionEnforced  = "RetentionEnforced"
	EventRestored           = "Restored"
	EventRestoreFailed      = "RestoreFailed"
	EventExported           = "Exported"
	EventExportFailed       = "ExportFailed"
)

// Finalizers.
const (
	// WorkspaceFinalizer guards the tenant's data outside the cluster: database,
	// role, Vault subtree, policy, auth role and transit key.
	WorkspaceFinalizer = "tenancy.switchboard.dev/tenant-data"
	// BackupFinalizer keeps a Backup until its artifact is proven purged
	// from the store.
	BackupFinalizer = "tenancy.switchboard.dev/backup-artifact"
	// IntegrationFinalizer guards an Integration's credentials in Vault.
	IntegrationFinalizer = "tenancy.switchboard.dev/credentials"
)
