package controllers

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/specs"
	"github.com/switchboard-dev/switchboard/controllers/vault"
)

// reconcileVault puts the tenant's policy, Kubernetes-auth role and transit
// key in place. The KV subtree itself is written by the database and owner phases.
func (r *WorkspaceReconciler) reconcileVault(ctx context.Context, s *workspaceScope) (ctrl.Result, error) {
	ws := s.ws
	if err := r.Vault.EnsurePlatform(ctx); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "preparing vault mounts", err)
	}
	name := ws.VaultName()
	if err := r.Vault.EnsurePolicy(ctx, name, r.Vault.TenantPolicy(ws.VaultPath())); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "writing policy", err)
	}
	if err := r.Vault.EnsureAuthRole(ctx, vault.AuthRole{
		Name:           name,
		ServiceAccount: specs.ServiceAccountName,
		Namespace:      ws.NamespaceName(),
		Policies:       []string{name},
		TTL:            time.Hour,
		MaxTTL:         24 * time.Hour,
	}); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "writing kubernetes auth role", err)
	}
	if err := r.Vault.EnsureTransitKey(ctx, name); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "creating transit key", err)
	}
	s.vaultOK = true
	ws.Status.VaultPath = r.Vault.Config().KVMount + "/" + ws.VaultPath()
	ws.SetTrue(tenancyv1.ConditionVaultReady, tenancyv1.ReasonProvisioned,
		"subtree "+ws.Status.VaultPath+", policy, kubernetes auth role and transit key "+name)
	return ctrl.Result{}, nil
}
