package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/specs"
)

// defaultAfterDeletion applies when no RetentionPolicy governs a workspace.
const defaultAfterDeletion = 90 * 24 * time.Hour

// DeletionReceipt is the record, kept in a ConfigMap of the receipts
// namespace, of what a deletion removed and kept. It holds no secret.
type DeletionReceipt struct {
	Workspace           string         `json:"workspace"`
	UID                 string         `json:"uid"`
	DeletionRequestedAt time.Time      `json:"deletionRequestedAt"`
	CompletedAt         time.Time      `json:"completedAt"`
	DeletionPolicy      string         `json:"deletionPolicy"`
	RetentionPolicy     string         `json:"retentionPolicy,omitempty"`
	DatabaseServer      string         `json:"databaseServer,omitempty"`
	Database            string         `json:"database"`
	DatabaseDropped     bool           `json:"databaseDropped"`
	RoleDropped         bool           `json:"roleDropped"`
	VaultSubtree        string         `json:"vaultSubtree"`
	VaultDataDestroyed  bool           `json:"vaultDataDestroyed"`
	VaultPolicyDeleted  bool           `json:"vaultPolicyDeleted"`
	VaultAuthRoleDelete bool           `json:"vaultAuthRoleDeleted"`
	TransitKey          string         `json:"transitKey"`
	TransitKeyShredded  bool           `json:"transitKeyShredded"`
	Backups             []BackupExpiry `json:"backups,omitempty"`
	Namespace           string         `json:"namespace"`
	NamespaceDeleted    bool           `json:"namespaceDeleted"`
	Notes               []string       `json:"notes,omitempty"`
}

// BackupExpiry is one backup a deletion left to expire.
type BackupExpiry struct {
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// reconcileDelete removes the tenant following deletionPolicy and legalHold.
// Each step looks before it acts, so a crash at any point converges.
func (r *WorkspaceReconciler) reconcileDelete(ctx context.Context, s *workspaceScope) (ctrl.Result, error) {
	ws := s.ws
	log := logf.FromContext(ctx)
	ws.Status.Phase = tenancyv1.WorkspaceDeleting

	if ws.Spec.LegalHold {
		c := ws.GetCondition(tenancyv1.ConditionDeleting)
		if c == nil || c.Reason != tenancyv1.ReasonLegalHold {
			r.Recorder.Eventf(ws, nil, "Warning", tenancyv1.EventDeletionBlocked, "Delete",
				"deletion is blocked by spec.legalHold; nothing was removed. Set spec.legalHold to false to proceed")
		}
		ws.SetFalse(tenancyv1.ConditionDeleting, tenancyv1.ReasonLegalHold,
			"deletion is blocked by spec.legalHold: no data is removed until the hold is lifted")
		ws.SetFalse(tenancyv1.ConditionReady, tenancyv1.ReasonLegalHold, "deletion requested; blocked by spec.legalHold")
		return ctrl.Result{}, nil
	}

	step := func(msg string) {
		if r.BeforeDeletionStep != nil {
			r.BeforeDeletionStep(ctx, ws.Name, msg)
		}
		ws.SetTrue(tenancyv1.ConditionDeleting, tenancyv1.ReasonDeletionInProgress, msg)
		ws.SetFalse(tenancyv1.ConditionReady, tenancyv1.ReasonDeletionInProgress, "deleting: "+msg)
	}
	fail := func(what string, err error) (ctrl.Result, error) {
		ws.SetFalse(tenancyv1.ConditionDeleting, tenancyv1.ReasonDeletionInProgress, what+": "+err.Error())
		log.Info("deletion step failed; will retry", "step", what, "error", err.Error())
		return ctrl.Result{RequeueAfter: r.RetryAfter}, nil
	}
	retain := ws.EffectiveDeletionPolicy() == tenancyv1.DeletionPolicyRetain
	receipt := DeletionReceipt{
		Workspace: ws.Name, UID: string(ws.UID), DeletionRequestedAt: ws.DeletionTimestamp.UTC(),
		DeletionPolicy: string(ws.EffectiveDeletionPolicy()), DatabaseServer: ws.Spec.DatabaseServer,
		Database: ws.DatabaseName(), VaultSubtree: r.Vault.Config().KVMount + "/" + ws.VaultPath(),
		TransitKey: ws.VaultName(), Namespace: ws.NamespaceName(),
	}

	// 1. Scale the runtime to zero, so nothing writes while data goes.
	step("scaling the runtime to 0")
	dep := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKey{Namespace: ws.NamespaceName(), Name: specs.RuntimeName}, dep)
	switch {
	case err == nil && (dep.Spec.Replicas == nil || *dep.Spec.Replicas != 0) && dep.DeletionTimestamp.IsZero():
		patch := client.MergeFrom(dep.DeepCopy())
		dep.Spec.Replicas = ptr.To(int32(0))
		if err := r.Patch(ctx, dep, patch); err != nil && !apierrors.IsNotFound(err) {
			return fail("scaling the runtime to 0", err)
		}
	case err != nil && !apierrors.IsNotFound(err):
		return fail("reading the runtime deployment", err)
	}

	// 2. The database and the role.
	if retain {
		receipt.Notes = append(receipt.Notes, "deletionPolicy Retain: database, role and Vault data kept")
	} else if _, known := r.DB.Server(ws.Spec.DatabaseServer); known {
		step("dropping database and role " + ws.DatabaseName())
		db, role, err := r.DB.Exists(ctx, ws.Spec.DatabaseServer, ws.DatabaseName())
		if err != nil {
			return fail("checking database", err)
		}
		if err := r.DB.Drop(ctx, ws.Spec.DatabaseServer, ws.DatabaseName()); err != nil {
			return fail("dropping database and role", err)
		}
		if db || role {
			r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventDatabaseDropped, "Delete",
				"dropped database and role %s on server %s", ws.DatabaseName(), ws.Spec.DatabaseServer)
		}
		receipt.DatabaseDropped, receipt.RoleDropped = true, true
	} else if ws.Status.Database != nil {
		// The database was created on a server the operator no longer knows:
		// removing the finalizer now would leave it behind unseen.
		ws.SetFalse(tenancyv1.ConditionDeleting, tenancyv1.ReasonUnknownDatabaseServer,
			fmt.Sprintf("cannot drop database %s: server %q is no longer in --database-servers", ws.DatabaseName(), ws.Spec.DatabaseServer))
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	} else {
		receipt.Notes = append(receipt.Notes, "no database was ever created: server "+ws.Spec.DatabaseServer+" is unknown")
	}

	// 3. Vault: the data (unless retained), then the policy and the auth role,
	// which only the runtime used.
	if !retain {
		step("destroying Vault subtree " + receipt.VaultSubtree)
		n, err := r.Vault.DestroyTree(ctx, ws.VaultPath())
		if err != nil {
			return fail("destroying Vault data", err)
		}
		if n > 0 {
			r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventVaultDataDestroyed, "Delete",
				"destroyed every version and the metadata of %d secrets under %s", n, receipt.VaultSubtree)
		}
		receipt.VaultDataDestroyed = true
	}
	step("deleting Vault policy and auth role " + ws.VaultName())
	if err := r.Vault.DeletePolicy(ctx, ws.VaultName()); err != nil {
		return fail("deleting Vault policy", err)
	}
	if err := r.Vault.DeleteAuthRole(ctx, ws.VaultName()); err != nil {
		return fail("deleting Vault auth role", err)
	}
	receipt.VaultPolicyDeleted, receipt.VaultAuthRoleDelete = true, true

	// 4. Backups expire at deletedAt + afterDeletion; the transit key that can
	// read them is shredded now if the policy says so, or if there is nothing
	// left for it to read.
	step("scheduling backup expiry")
	policy, err := r.retentionPolicyOf(ctx, ws)
	if err != nil {
		return fail("reading retention policy", err)
	}
	afterDeletion, shred := defaultAfterDeletion, false
	if policy != nil {
		receipt.RetentionPolicy = policy.Name
		shred = policy.Spec.Backups.ShredOnDelete
		if policy.Spec.Backups.AfterDeletion != "" {
			if d, err := policy.Spec.Backups.AfterDeletion.Parse(); err == nil {
				afterDeletion = d
			}
		}
	}
	backups, err := r.expireBackups(ctx, ws, afterDeletion)
	if err != nil {
		return fail("scheduling backup expiry", err)
	}
	receipt.Backups = backups
	if shred || (!retain && len(backups) == 0) {
		if err := r.Vault.ShredTransitKey(ctx, ws.VaultName()); err != nil {
			return fail("shredding transit key", err)
		}
		if shred {
			r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventTransitKeyShredded, "Delete",
				"shredded transit key %s: the workspace's %d backups can no longer be decrypted", ws.VaultName(), len(backups))
		}
		receipt.TransitKeyShredded = true
	} else {
		receipt.Notes = append(receipt.Notes, fmt.Sprintf("transit key %s kept to read %d backups until they expire", ws.VaultName(), len(backups)))
	}

	// 5. The namespace; its objects go with it.
	step("deleting namespace " + ws.NamespaceName())
	ns := &corev1.Namespace{}
	err = r.APIReader.Get(ctx, client.ObjectKey{Name: ws.NamespaceName()}, ns)
	switch {
	case err == nil && ownedBy(ns, ws) && ns.DeletionTimestamp.IsZero():
		if err := r.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
			return fail("deleting namespace", err)
		}
	case err != nil && !apierrors.IsNotFound(err):
		return fail("reading namespace", err)
	}
	receipt.NamespaceDeleted = true
	if retain {
		r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventDataRetained, "Delete",
			"deletionPolicy Retain: database %s on server %s and Vault subtree %s are kept; the runtime and namespace are removed",
			ws.DatabaseName(), ws.Spec.DatabaseServer, receipt.VaultSubtree)
	}

	// 6. The receipt.
	step("recording deletion receipt")
	receipt.CompletedAt = time.Now().UTC()
	if err := r.recordReceipt(ctx, ws, receipt); err != nil {
		return fail("recording deletion receipt", err)
	}

	// 7. Done.
	patch := client.MergeFrom(ws.DeepCopy())
	controllerutil.RemoveFinalizer(ws, tenancyv1.WorkspaceFinalizer)
	if err := r.Patch(ctx, ws, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventDeleted, "Delete",
		"workspace deleted (deletionPolicy %s); receipt in ConfigMap %s/%s", receipt.DeletionPolicy, r.ReceiptsNamespace, receiptName(ws))
	return ctrl.Result{}, nil
}

// retentionPolicyOf returns the policy the workspace names, else the default one, else nil.
func (r *WorkspaceReconciler) retentionPolicyOf(ctx context.Context, ws *tenancyv1.Workspace) (*tenancyv1.RetentionPolicy, error) {
	if ref := ws.Spec.RetentionPolicyRef; ref != nil {
		p := &tenancyv1.RetentionPolicy{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Name: ref.Name}, p); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil
			}
			return nil, err
		}
		return p, nil
	}
	var list tenancyv1.RetentionPolicyList
	if err := r.APIReader.List(ctx, &list); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].Annotations[tenancyv1.AnnotationDefaultPolicy] == "true" {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// expireBackups sets every backup of the workspace to expire at
// deletedAt + afterDeletion, or earlier if it already would.
func (r *WorkspaceReconciler) expireBackups(ctx context.Context, ws *tenancyv1.Workspace, afterDeletion time.Duration) ([]BackupExpiry, error) {
	// Read from the API server, not the cache: a backup created a moment ago
	// must keep the transit key that decrypts it.
	var list tenancyv1.BackupList
	if err := r.APIReader.List(ctx, &list); err != nil {
		return nil, err
	}
	deadline := metav1.NewTime(ws.DeletionTimestamp.Add(afterDeletion).UTC().Truncate(time.Second))
	var out []BackupExpiry
	for i := range list.Items {
		b := &list.Items[i]
		if b.Spec.Workspace != ws.Name {
			continue
		}
		want := deadline
		if b.Status.ExpiresAt != nil && b.Status.ExpiresAt.Before(&deadline) {
			want = *b.Status.ExpiresAt
		}
		if b.Status.ExpiresAt == nil || !b.Status.ExpiresAt.Equal(&want) || b.Status.WorkspaceDeletedAt == nil {
			patch := client.MergeFrom(b.DeepCopy())
			b.Status.ExpiresAt = &want
			b.Status.WorkspaceDeletedAt = ptr.To(metav1.NewTime(ws.DeletionTimestamp.UTC()))
			if err := r.Status().Patch(ctx, b, patch); err != nil && !apierrors.IsNotFound(err) {
				return nil, err
			}
		}
		out = append(out, BackupExpiry{Name: b.Name, ExpiresAt: want.Time})
	}
	return out, nil
}

func receiptName(ws *tenancyv1.Workspace) string {
	uid := string(ws.UID)
	if len(uid) > 8 {
		uid = uid[:8]
	}
	return "deletion-" + ws.Name + "-" + uid
}

// recordReceipt writes the receipt ConfigMap once; a receipt already there
// (from a pass that crashed after writing it) is kept.
func (r *WorkspaceReconciler) recordReceipt(ctx context.Context, ws *tenancyv1.Workspace, receipt DeletionReceipt) error {
	body, err := json.MarshalIndent(receipt, "", "  ")
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: receiptName(ws), Namespace: r.ReceiptsNamespace,
			Labels: map[string]string{
				tenancyv1.LabelManagedBy:                   tenancyv1.ManagedByValue,
				tenancyv1.LabelWorkspace:                   ws.Name,
				"tenancy.switchboard.dev/deletion-receipt": "true",
			},
		},
		Data: map[string]string{"receipt.json": string(body)},
	}
	err = r.Create(ctx, cm)
	if apierrors.IsNotFound(err) { // the receipts namespace is missing: create it
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ReceiptsNamespace}}
		if err := r.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		err = r.Create(ctx, cm)
	}
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
