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
	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// reconcileOwner gives the first owner a one-time password, once: the
// plaintext goes to the Secret initial-owner (shown once, like Argo CD's
// initial admin secret), its bcrypt hash to Vault for the runtime. Once Vault
// has the bootstrap entry nothing is rewritten, and a deleted Secret stays deleted.
func (r *WorkspaceReconciler) reconcileOwner(ctx context.Context, s *workspaceScope) (ctrl.Result, error) {
	ws := s.ws
	if !ws.IsTrue(tenancyv1.ConditionNamespaceReady) || !ws.IsTrue(tenancyv1.ConditionVaultReady) {
		ws.SetFalse(tenancyv1.ConditionOwnerReady, tenancyv1.ReasonWaitingForDependencies, "waiting for the namespace and Vault")
		return ctrl.Result{}, nil
	}
	ready := func() {
		ws.SetTrue(tenancyv1.ConditionOwnerReady, tenancyv1.ReasonProvisioned,
			"the first owner "+ws.Spec.Owner.Email+" has a one-time password (Secret "+ws.NamespaceName()+"/"+specs.InitialOwnerSecret+", shown once)")
	}
	path := ws.VaultPath() + "/" + contract.EntryBootstrap
	have, err := r.Vault.ReadKV(ctx, path)
	if err != nil {
		return r.dependencyError(s, tenancyv1.ConditionOwnerReady, "reading bootstrap owner", err)
	}
	if have != nil {
		ready()
		return ctrl.Result{}, nil
	}

	// Reuse the password of a Secret this operator made for this Workspace and
	// then crashed before the Vault write, so the Secret and Vault agree. A
	// Secret of that name made by anyone else is never trusted.
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: ws.NamespaceName(), Name: specs.InitialOwnerSecret}
	password := ""
	switch err := r.APIReader.Get(ctx, key, secret); {
	case err == nil && ownedBy(secret, ws):
		password = string(secret.Data["password"])
	case err == nil:
		s.failed = true
		ws.SetFalse(tenancyv1.ConditionOwnerReady, tenancyv1.ReasonNamespaceConflict,
			"Secret "+klogRef(secret)+" exists and was not made by the operator for this Workspace: delete it, and the first owner gets a one-time password")
		return ctrl.Result{RequeueAfter: r.RetryAfter}, nil
	case !apierrors.IsNotFound(err):
		return r.dependencyError(s, tenancyv1.ConditionOwnerReady, "reading initial owner secret", err)
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
		markOwned(want, ws)
		if err := r.Create(ctx, want); err != nil {
			// AlreadyExists: a Secret appeared since the read; the next pass looks at it.
			return r.dependencyError(s, tenancyv1.ConditionOwnerReady, "creating initial owner secret", err)
		}
	}
	// bcrypt's cost slows the guessing of passwords people choose; this one
	// is 24 random base64url characters (144 bits), which no number of
	// guesses finds, and the runtime makes its owner choose another at the
	// first login (hashed at the runtime's own cost). DefaultCost took about
	// 60 ms of CPU per workspace, the operator's largest single cost when a
	// thousand workspaces are created at once (docs/performance.md).
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		return ctrl.Result{}, err
	}
	if _, err := r.Vault.WriteKV(ctx, path, map[string]string{
		contract.BootstrapEmail:                 ws.Spec.Owner.Email,
		contract.BootstrapName:                  ws.Spec.Owner.Name,
		contract.BootstrapPasswordHash:          string(hash),
		contract.BootstrapMustChangePassword:    "true",
		contract.BootstrapInitialPasswordSecret: ws.NamespaceName() + "/" + specs.InitialOwnerSecret,
	}, string(ws.UID)); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionOwnerReady, "storing bootstrap owner", err)
	}
	ws.Status.InitialOwnerSecret = specs.InitialOwnerSecret
	ready()
	return ctrl.Result{}, nil
}
