package controllers

import (
	"context"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/postgres"
	"github.com/switchboard-dev/switchboard/controllers/specs"
)

// bootstrapSecret is the KV entry, under the tenant's subtree, that tells the
// runtime who its first owner is. It holds a bcrypt hash, not the password.
const bootstrapSecret = "bootstrap"

// reconcileOwner gives the first owner a one-time password, once: the
// plaintext goes to the Secret initial-owner (shown once, like Argo CD's
// initial admin secret), its bcrypt hash to Vault for the runtime. Once Vault
// has the bootstrap entry nothing is rewritten, and a deleted Secret stays deleted.
func (r *WorkspaceReconciler) reconcileOwner(ctx context.Context, s *workspaceScope) (ctrl.Result, error) {
	ws := s.ws
	if !s.vaultOK || !ws.IsTrue(tenancyv1.ConditionNamespaceReady) {
		return ctrl.Result{}, nil
	}
	path := ws.VaultPath() + "/" + bootstrapSecret
	have, err := r.Vault.ReadKV(ctx, path)
	if err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "reading bootstrap owner", err)
	}
	if have != nil {
		return ctrl.Result{}, nil
	}

	// Reuse the password of a Secret left by a pass that crashed before the
	// Vault write, so the Secret and Vault agree.
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: ws.NamespaceName(), Name: specs.InitialOwnerSecret}
	password := ""
	switch err := r.APIReader.Get(ctx, key, secret); {
	case err == nil:
		password = string(secret.Data["password"])
	case !apierrors.IsNotFound(err):
		return r.dependencyError(s, tenancyv1.ConditionNamespaceReady, "reading initial owner secret", err)
	}
	if password == "" {
		if password, err = postgres.RandomPassword(); err != nil {
			return ctrl.Result{}, err
		}
		password = password[:24]
		want := specs.InitialOwner(ws, password)
		if err := controllerutil.SetControllerReference(ws, want, r.Scheme()); err != nil {
			return ctrl.Result{}, err
		}
		if err := r.Create(ctx, want); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return ctrl.Result{Requeue: true}, nil
			}
			return r.dependencyError(s, tenancyv1.ConditionNamespaceReady, "creating initial owner secret", err)
		}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return ctrl.Result{}, err
	}
	if _, err := r.Vault.WriteKV(ctx, path, map[string]string{
		"email":                 ws.Spec.Owner.Email,
		"name":                  ws.Spec.Owner.Name,
		"passwordHash":          string(hash),
		"mustChangePassword":    "true",
		"initialPasswordSecret": ws.NamespaceName() + "/" + specs.InitialOwnerSecret,
	}); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionVaultReady, "storing bootstrap owner", err)
	}
	ws.Status.InitialOwnerSecret = specs.InitialOwnerSecret
	return ctrl.Result{}, nil
}
