package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"slices"
	"sort"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/external"
	"github.com/switchboard-dev/switchboard/controllers/specs"
	"github.com/switchboard-dev/switchboard/controllers/vault"
	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// claimOf is the workspace's claim on the external objects of its name.
func claimOf(ws *tenancyv1.Workspace) external.Claim {
	return external.Claim{UID: string(ws.UID), AdoptFrom: ws.Annotations[tenancyv1.AnnotationAdoptDataFrom]}
}

// authRoleOf is the Kubernetes-auth role that lets the runtime read the subtree.
func authRoleOf(ws *tenancyv1.Workspace) vault.AuthRole {
	return vault.AuthRole{
		Name:           ws.VaultName(),
		ServiceAccount: specs.ServiceAccountName,
		Namespace:      ws.NamespaceName(),
		Policies:       []string{ws.VaultName()},
		TTL:            time.Hour,
		MaxTTL:         24 * time.Hour,
	}
}

// reconcileVault claims the tenant's subtree, then puts its policy,
// Kubernetes-auth role and transit key in place. The KV entries themselves
// are written by the database and owner phases. Nothing is granted until the
// namespace the auth role trusts is proven this Workspace's.
func (r *WorkspaceReconciler) reconcileVault(ctx context.Context, s *workspaceScope) (ctrl.Result, error) {
	ws := s.ws
	if !ws.IsTrue(tenancyv1.ConditionNamespaceReady) {
		if c := ws.GetCondition(tenancyv1.ConditionNamespaceReady); c != nil && c.Reason == tenancyv1.ReasonNamespaceConflict {
			return r.revokeAccess(ctx, s)
		}
		ws.SetFalse(tenancyv1.ConditionVaultReady, tenancyv1.ReasonWaitingForDependencies,
			"waiting for namespace "+ws.NamespaceName()+": nothing is written to Vault before it is this Workspace's")
		return ctrl.Result{}, nil
	}
	if err := r.Vault.EnsurePlatform(ctx); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "preparing vault mounts", err)
	}
	claim := claimOf(ws)
	adopted, err := r.Vault.ClaimSubtree(ctx, ws.VaultPath(), claim)
	if err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "claiming the Vault subtree", err)
	}
	if adopted {
		r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventProvisioned, "Adopt",
			"took over Vault subtree %s/%s as annotation %s asks", r.Vault.Config().KVMount, ws.VaultPath(), tenancyv1.AnnotationAdoptDataFrom)
	}
	name := ws.VaultName()
	tokens, err := r.tokenIntegrations(ctx, ws)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Vault.EnsurePolicy(ctx, name, r.Vault.TenantPolicy(ws.VaultPath(), contract.LedgerPrefix(ws.Name, string(ws.UID)), string(ws.UID), tokens), claim); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "writing policy", err)
	}
	if err := r.Vault.EnsureAuthRole(ctx, authRoleOf(ws)); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "writing kubernetes auth role", err)
	}
	if err := r.Vault.EnsureTransitKey(ctx, ws.TransitKeyName()); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "creating transit key", err)
	}
	ws.Status.VaultPath = r.Vault.Config().KVMount + "/" + ws.VaultPath()
	ws.Status.TransitKey = ws.TransitKeyName()
	ws.SetTrue(tenancyv1.ConditionVaultReady, tenancyv1.ReasonProvisioned,
		"subtree "+ws.Status.VaultPath+", policy and kubernetes auth role "+name+", transit key "+ws.Status.TransitKey)
	return ctrl.Result{}, nil
}

// revokeAccess runs while ws-<name> is someone else's namespace: whoever runs
// pods there as ServiceAccount runtime must not read the tenant's secrets.
// The auth role that trusts that ServiceAccount and the policy that every
// token it issued relies on are deleted (Vault checks policies on each
// request, so issued tokens lose access at once). The database role's
// password is taken away and its sessions ended, in case it was read, and
// the credentials are destroyed, so that the database phase gives the role a
// new password once the namespace is this Workspace's again.
func (r *WorkspaceReconciler) revokeAccess(ctx context.Context, s *workspaceScope) (ctrl.Result, error) {
	ws := s.ws
	msg := "namespace " + ws.NamespaceName() + " is not this Workspace's: no Vault access is granted"
	role := authRoleOf(ws)
	roleKept, err := r.Vault.DeleteAuthRole(ctx, role.Name, role.Policies)
	if err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "revoking the kubernetes auth role", err)
	}
	policyKept, err := r.Vault.DeletePolicy(ctx, ws.VaultName(), string(ws.UID))
	if err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "revoking the policy", err)
	}
	destroyed := false
	if owner, err := r.Vault.SubtreeOwner(ctx, ws.VaultPath()); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "reading the Vault subtree's owner", err)
	} else if owner == string(ws.UID) {
		creds, err := r.Vault.ReadKV(ctx, ws.VaultPath()+"/"+contract.EntryDatabase)
		if err != nil {
			return r.dependencyError(s, tenancyv1.ConditionVaultReady, "reading the exposed database credentials", err)
		}
		if _, known := r.DB.Server(ws.Spec.DatabaseServer); creds != nil && known {
			if err := r.DB.Lock(ctx, ws.Spec.DatabaseServer, tenantOf(ws)); err != nil {
				return r.dependencyError(s, tenancyv1.ConditionVaultReady, "locking the database role", err)
			}
		}
		if destroyed, err = r.Vault.DestroyKV(ctx, ws.VaultPath()+"/"+contract.EntryDatabase); err != nil {
			return r.dependencyError(s, tenancyv1.ConditionVaultReady, "destroying the exposed database credentials", err)
		}
	}
	if _, err := r.Vault.DeleteIdentity(ctx, ws.NamespaceName(), specs.ServiceAccountName); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "removing the runtime's Vault identity", err)
	}
	if destroyed {
		r.Recorder.Eventf(ws, nil, "Warning", tenancyv1.EventAccessRevoked, "Revoke",
			"namespace %s is not this Workspace's: revoked Vault access and destroyed the database credentials; the role gets a new password once the namespace is back", ws.NamespaceName())
	}
	if roleKept || policyKept {
		msg += "; a Vault policy or auth role named " + ws.VaultName() + " is someone else's and was left alone"
	}
	ws.SetFalse(tenancyv1.ConditionVaultReady, tenancyv1.ReasonNamespaceConflict, msg)
	return ctrl.Result{}, nil
}

// tokenIntegrations names, sorted, the connected Integrations of the
// workspace whose runtime writes its own tokens (contract.TypesWithTokens):
// its Vault policy may write exactly their tokens entries. A disconnected or
// deleted one loses that grant.
func (r *WorkspaceReconciler) tokenIntegrations(ctx context.Context, ws *tenancyv1.Workspace) ([]string, error) {
	var list tenancyv1.IntegrationList
	if err := r.List(ctx, &list, client.InNamespace(ws.NamespaceName())); err != nil {
		return nil, err
	}
	var out []string
	for _, in := range list.Items {
		if in.Spec.Disconnected || !in.DeletionTimestamp.IsZero() || !slices.Contains(contract.TypesWithTokens, string(in.Spec.Type)) {
			continue
		}
		out = append(out, in.Name)
	}
	sort.Strings(out)
	return out, nil
}

// workspaceOfIntegration maps an Integration to its namespace's Workspace.
func workspaceOfIntegration(_ context.Context, o client.Object) []reconcile.Request {
	name, ok := contract.WorkspaceOfNamespace(o.GetNamespace())
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
}
