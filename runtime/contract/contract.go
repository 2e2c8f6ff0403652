// Package contract is what the operator and the tenant runtime agree on: the
// runtime's environment, the Vault entries the operator writes and the
// runtime reads (with their keys), and the names both derive from a
// workspace's name. A rename here changes both sides at once. It imports
// neither side, and nothing but the standard library.
package contract

import "strings"

// Environment of the runtime, set by the operator on its Deployment. None of
// it is secret: the runtime reads its secrets from Vault.
const (
	// EnvWorkspace is the workspace's name.
	EnvWorkspace = "SWITCHBOARD_WORKSPACE"
	// EnvDisplayName is the workspace's spec.displayName, shown in the
	// inbox's title; empty means the workspace's name.
	EnvDisplayName = "SWITCHBOARD_DISPLAY_NAME"
	// EnvPlan is the workspace's plan.
	EnvPlan = "SWITCHBOARD_PLAN"
	// EnvPublicURL is where the tenant's users open the inbox.
	EnvPublicURL = "SWITCHBOARD_PUBLIC_URL"
	// EnvListenAddr is the runtime's listen address.
	EnvListenAddr = "SWITCHBOARD_LISTEN_ADDR"
	// EnvVaultAddr is Vault's address, as the runtime reaches it.
	EnvVaultAddr = "VAULT_ADDR"
	// EnvVaultToken is a Vault token, for local development only; in a
	// cluster the runtime logs in with its ServiceAccount token.
	EnvVaultToken = "VAULT_TOKEN"
	// EnvVaultAuthMount is the Kubernetes auth mount the runtime logs in with.
	EnvVaultAuthMount = "SWITCHBOARD_VAULT_AUTH_MOUNT"
	// EnvVaultAuthRole is the Kubernetes-auth role, VaultName(workspace).
	EnvVaultAuthRole = "SWITCHBOARD_VAULT_AUTH_ROLE"
	// EnvVaultKVMount is the KV v2 mount holding tenant subtrees.
	EnvVaultKVMount = "SWITCHBOARD_VAULT_KV_MOUNT"
	// EnvVaultPath is the workspace's subtree, VaultSubtree(workspace).
	EnvVaultPath = "SWITCHBOARD_VAULT_PATH"
	// EnvVaultTokenPath is the file holding the runtime's projected
	// ServiceAccount token (audience vault).
	EnvVaultTokenPath = "SWITCHBOARD_VAULT_TOKEN_PATH"
	// EnvTrustedProxies lists, comma-separated, the CIDRs of the proxies
	// whose X-Forwarded-For the runtime believes.
	EnvTrustedProxies = "SWITCHBOARD_TRUSTED_PROXIES"
	// EnvErasureLedger is the prefix of the workspace's erasure ledger in
	// the KV v2 mount, LedgerPrefix(workspace, uid); see runtime/privacy.
	EnvErasureLedger = "SWITCHBOARD_ERASURE_LEDGER"
	// EnvRetentionPolicy names the workspace's effective RetentionPolicy
	// ("" for the built-in defaults), shown to its admins.
	EnvRetentionPolicy = "SWITCHBOARD_RETENTION_POLICY"
	// EnvRetention is the categories in force, "category=retainFor:action"
	// comma-separated (e.g. "conversations=730d:Delete"), shown to admins.
	EnvRetention = "SWITCHBOARD_RETENTION"
	// EnvDSRDeadline is the policy's dataSubjectRequests.deadline (e.g.
	// "30d"): how long the workspace has to answer a rights request.
	EnvDSRDeadline = "SWITCHBOARD_DSR_DEADLINE"
	// EnvBackupRetainFor is the policy's backups.retainFor (e.g. "30d"):
	// how long a backup lives after it is taken.
	EnvBackupRetainFor = "SWITCHBOARD_BACKUP_RETAIN_FOR"
	// EnvBackups is "false" when the workspace's database server has no
	// backup store, so no backup is taken; "true" otherwise.
	EnvBackups = "SWITCHBOARD_BACKUPS"
	// EnvBackupAfterDeletion is the policy's backups.afterDeletion (e.g.
	// "90d"): how long the backups outlive the workspace's deletion.
	EnvBackupAfterDeletion = "SWITCHBOARD_BACKUP_AFTER_DELETION"
	// EnvBackupShredOnDelete is "true" when the policy's
	// backups.shredOnDelete makes the backups unreadable at the workspace's
	// deletion, else "false".
	EnvBackupShredOnDelete = "SWITCHBOARD_BACKUP_SHRED_ON_DELETE"
	// EnvCredentialsAfterDisconnect is the policy's
	// credentials.afterDisconnect (e.g. "0d"): how long a disconnected
	// Integration's credentials stay in Vault.
	EnvCredentialsAfterDisconnect = "SWITCHBOARD_CREDENTIALS_AFTER_DISCONNECT"
	// EnvRegion is the region label of the workspace's database server
	// (its region in the operator's --database-servers), shown on the
	// public privacy page as where the data lives; empty when unset.
	EnvRegion = "SWITCHBOARD_REGION"
)

// Entries of the workspace's Vault subtree, relative to it.
const (
	// EntryDatabase holds the database credentials; see the Database* keys.
	EntryDatabase = "database"
	// EntryBootstrap names the first owner; see the Bootstrap* keys.
	EntryBootstrap = "bootstrap"
	// entryIntegrations is the folder of Integration credentials.
	entryIntegrations = "integrations/"
)

// Keys of EntryDatabase.
const (
	DatabaseDSN      = "dsn"
	DatabaseHost     = "host"
	DatabasePort     = "port"
	DatabaseName     = "database"
	DatabaseUser     = "username"
	DatabasePassword = "password"
)

// Keys of EntryBootstrap. It holds a bcrypt hash, never a password.
const (
	BootstrapEmail        = "email"
	BootstrapName         = "name"
	BootstrapPasswordHash = "passwordHash"
	// BootstrapMustChangePassword is "true" unless the owner may keep the
	// password ("false").
	BootstrapMustChangePassword = "mustChangePassword"
	// BootstrapInitialPasswordSecret is namespace/name of the Secret that
	// showed the one-time password.
	BootstrapInitialPasswordSecret = "initialPasswordSecret"
)

// IntegrationEntry is the entry, relative to the subtree, that holds an
// Integration's credentials.
func IntegrationEntry(integration string) string { return entryIntegrations + integration }

// Names derived from a workspace's name.
const (
	namespacePrefix = "ws-"
	subtreePrefix   = "workspaces/"
	ledgerPrefix    = "erasures/"
)

// Namespace is the workspace's namespace.
func Namespace(workspace string) string { return namespacePrefix + workspace }

// WorkspaceOfNamespace is the workspace a namespace name is for, if it has
// the form of one (which proves nothing about who made it).
func WorkspaceOfNamespace(namespace string) (string, bool) {
	return strings.CutPrefix(namespace, namespacePrefix)
}

// IsWorkspaceNamespace says whether a namespace name has a workspace's form.
func IsWorkspaceNamespace(namespace string) bool {
	return strings.HasPrefix(namespace, namespacePrefix)
}

// VaultSubtree is the workspace's subtree in the KV v2 mount.
func VaultSubtree(workspace string) string { return subtreePrefix + workspace }

// LedgerPrefix is the workspace's erasure ledger in the KV v2 mount,
// erasures/ws-<workspace>-<uid>. It lies outside the workspace's subtree
// because it must outlive the workspace for as long as any of its backups
// does, and it carries the UID so that a later workspace of the same name
// never replays, or destroys, an earlier one's erasures.
func LedgerPrefix(workspace, uid string) string {
	return ledgerPrefix + namespacePrefix + workspace + "-" + uid
}

// VaultName is the workspace's Vault policy and Kubernetes-auth role.
func VaultName(workspace string) string { return namespacePrefix + workspace }

// DatabaseNameOf is the workspace's PostgreSQL database and role.
func DatabaseNameOf(workspace string) string {
	return "ws_" + strings.ReplaceAll(workspace, "-", "_")
}

// RuntimePoolSize is the runtime's PostgreSQL pool size per replica. The
// operator sizes the role's connection limit from it.
const RuntimePoolSize = 10
