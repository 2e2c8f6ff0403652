# The least the Switchboard operator's Vault token needs, for the default
# mounts (--vault-kv-mount=switchboard, --vault-transit-mount=transit,
# --vault-auth-mount=kubernetes): rename the paths if you change them.
# docs/security.md explains each rule; the controller tests run the operator
# with a token of exactly this policy, not root.
#
#   vault policy write switchboard-operator config/vault/operator-policy.hcl
#   vault token create -policy=switchboard-operator -orphan -period=24h
#
# The operator renews a periodic token itself, at a third of its period.

# Mount the three engines once, if they are missing. Drop these five rules if
# you mount them yourself (KV version 2, transit, kubernetes auth).
path "sys/mounts" {
  capabilities = ["read"]
}
path "sys/mounts/switchboard" {
  capabilities = ["create", "read", "update"]
}
path "sys/mounts/transit" {
  capabilities = ["create", "read", "update"]
}
path "sys/auth" {
  capabilities = ["read"]
}
path "sys/auth/kubernetes" {
  capabilities = ["create", "read", "update", "sudo"]
}

# Point the Kubernetes auth method at the API server, with the reviewer's token.
path "auth/kubernetes/config" {
  capabilities = ["create", "read", "update"]
}

# Each tenant's policy and Kubernetes-auth role, all named ws-<workspace>.
path "sys/policies/acl/ws-*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "auth/kubernetes/role/ws-*" {
  capabilities = ["create", "read", "update", "delete"]
}

# Each tenant's transit key, ws-<workspace>-<uid>: create, allow its
# deletion (keys/<name>/config), and shred it.
path "transit/keys/ws-*" {
  capabilities = ["create", "read", "update", "delete"]
}

# Backups (docs/backup-format.md): a fresh data key per backup, wrapped by the
# tenant's transit key, and unwrapping it to restore or verify a backup.
path "transit/datakey/plaintext/ws-*" {
  capabilities = ["update"]
}
path "transit/decrypt/ws-*" {
  capabilities = ["update"]
}

# Tenant subtrees: the ownership mark at workspaces/<name>, the database and
# bootstrap entries, and Integration credentials below it.
path "switchboard/data/workspaces/*" {
  capabilities = ["create", "read", "update"]
}
path "switchboard/metadata/workspaces/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# Erasure ledgers (runtime/privacy), erasures/ws-<workspace>-<uid>, outside
# the tenant subtrees because they outlive a workspace as long as its
# backups do. The runtime appends to its own; the operator reads them to
# re-apply erasures to a restored database, and destroys one (every version
# and its metadata) with the workspace's transit key.
path "switchboard/data/erasures/*" {
  capabilities = ["read"]
}
path "switchboard/metadata/erasures/*" {
  capabilities = ["read", "list", "delete"]
}
path "switchboard/delete/erasures/*" {
  capabilities = ["update"]
}
path "switchboard/destroy/erasures/*" {
  capabilities = ["update"]
}

# Pseudonymisation keys of retention's Anonymize, retention/ws-<workspace>-<uid>:
# outside the tenant subtrees, which runtimes can read, so that a tenant
# cannot undo its own anonymisation. Destroyed with the workspace.
path "switchboard/data/retention/*" {
  capabilities = ["create", "read", "update"]
}
path "switchboard/metadata/retention/*" {
  capabilities = ["create", "read", "update", "delete"]
}

# The SHA-256 of the TokenReview token last written to the Kubernetes auth
# config (Vault never returns the token): a restart with the same token
# writes nothing. Outside the tenant subtrees; no token is stored here.
path "switchboard/data/switchboard-operator/kubernetes-auth" {
  capabilities = ["create", "read", "update"]
}
path "switchboard/metadata/switchboard-operator/kubernetes-auth" {
  capabilities = ["create", "read", "update"]
}

# Remove the identity entity a tenant runtime's logins created, with the
# workspace. Entity IDs are random, so deletion cannot be narrowed further.
path "identity/lookup/entity" {
  capabilities = ["update"]
}
path "identity/entity/id/*" {
  capabilities = ["delete"]
}
