// Package runtime will hold the tenant runtime: the application each
// Workspace runs in its own namespace. It is built in a later issue; see
// README.md for the contract the operator already deploys it with.
//
// The operator runs the runtime image (--runtime-image, or a Workspace's
// spec.runtimeImage) with this environment, and no secrets:
//
//	SWITCHBOARD_WORKSPACE         the Workspace name
//	SWITCHBOARD_PLAN              the effective plan
//	SWITCHBOARD_PUBLIC_URL        where the tenant's users reach it
//	SWITCHBOARD_LISTEN_ADDR       :8080
//	VAULT_ADDR                    Vault as the runtime reaches it
//	SWITCHBOARD_VAULT_AUTH_MOUNT  Kubernetes auth mount to log in with
//	SWITCHBOARD_VAULT_AUTH_ROLE   Vault role of this Workspace
//	SWITCHBOARD_VAULT_KV_MOUNT    KV v2 mount of the tenant subtree
//	SWITCHBOARD_VAULT_PATH        the tenant's subtree in that mount
//	SWITCHBOARD_VAULT_TOKEN_PATH  /var/run/secrets/switchboard/vault/token
//
// It must serve /healthz and /readyz on port 8080, and read its secrets from
// its Vault KV subtree: "database" (dsn) and "bootstrap" (the first owner's
// email, bcrypt passwordHash and mustChangePassword).
package runtime
