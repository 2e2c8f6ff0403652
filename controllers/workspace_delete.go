package controllers

import (
	"context"
	"errors"
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
	"github.com/switchboard-dev/switchboard/controllers/external"
	"github.com/switchboard-dev/switchboard/controllers/receipts"
	"github.com/switchboard-dev/switchboard/controllers/specs"
)

// defaultAfterDeletion applies when no RetentionPolicy governs a workspace.
const defaultAfterDeletion = 90 * 24 * time.Hour

// DeletionReceipt is the record, an entry of the hash-chained receipt log
// (controllers/receipts), of what a deletion removed and kept. It holds no
// secret and no personal data.
type DeletionReceipt struct {
	Workspace           string    `json:"workspace"`
	UID                 string    `json:"uid"`
	DeletionRequestedAt time.Time `json:"deletionRequestedAt"`
	CompletedAt         time.Time `json:"completedAt"`
	DeletionPolicy      string    `json:"deletionPolicy"`
	RetentionPolicy     string    `json:"retentionPolicy,omitempty"`
	DatabaseServer      string    `json:"databaseServer,omitempty"`
	Database            string    `json:"database"`
	DatabaseDropped     bool      `json:"databaseDropped"`
	RoleDropped         bool      `json:"roleDropped"`
	VaultSubtree        string    `json:"vaultSubtree"`
	VaultDataDestroyed  bool      `json:"vaultDataDestroyed"`
	VaultPolicyDeleted  bool      `json:"vaultPolicyDeleted"`
	VaultAuthRoleDelete bool      `json:"vaultAuthRoleDeleted"`
	TransitKey          string    `json:"transitKey"`
	TransitKeyShredded  bool      `json:"transitKeyShredded"`
	// ErasureLedgerDestroyed says the erasure ledger went with the key, and
	// how many entries (ids only) it held.
	ErasureLedgerDestroyed bool           `json:"erasureLedgerDestroyed,omitempty"`
	ErasureLedgerEntries   int            `json:"erasureLedgerEntries,omitempty"`
	Backups                []BackupExpiry `json:"backups,omitempty"`
	Namespace              string         `json:"namespace"`
	NamespaceDeleted       bool           `json:"namespaceDeleted"`
	// Export is the export taken before the deletion (spec.deletion.export),
	// or mode None.
	Export *ExportRecord `json:"export,omitempty"`
	Notes  []string      `json:"notes,omitempty"`
}

// BackupExpiry is one backup a deletion left to expire.
type BackupExpiry struct {
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expiresAt"`
	// Shredded says the key that could read it was destroyed: its
	// artifact is purged at once.
	Shredded bool `json:"shredded,omitempty"`
}

// deletionScope is the state of one deletion pass: the receipt it fills in
// as each step proves its part gone (or kept, and why).
type deletionScope struct {
	ws      *tenancyv1.Workspace
	retain  bool
	receipt *DeletionReceipt
	// receiptSeq is the receipt's entry in the receipt log, once recorded.
	receiptSeq int64
	// deletingReason is the Deleting condition's reason before this pass.
	deletingReason string
}

// deletionStep is one idempotent step of a deletion. done false with a nil
// error means it waits for something and the pass stops there, to come back.
type deletionStep struct {
	name string
	run  func(ctx context.Context, d *deletionScope) (done bool, err error)
}

// deletionWait is how soon a waiting step looks again.
const deletionWait = time.Second

// reconcileDelete removes the tenant following deletionPolicy and legalHold,
// one step after the other. Each step looks before it acts, so a crash at any
// point converges, and each destroys only what is provably this Workspace's.
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

	d := &deletionScope{
		ws:             ws,
		deletingReason: conditionReason(ws.GetCondition(tenancyv1.ConditionDeleting)),
		retain:         ws.EffectiveDeletionPolicy() == tenancyv1.DeletionPolicyRetain,
		receipt: &DeletionReceipt{
			Workspace: ws.Name, UID: string(ws.UID), DeletionRequestedAt: ws.DeletionTimestamp.UTC(),
			DeletionPolicy: string(ws.EffectiveDeletionPolicy()), DatabaseServer: ws.Spec.DatabaseServer,
			Database: ws.DatabaseName(), VaultSubtree: r.Vault.Config().KVMount + "/" + ws.VaultPath(),
			TransitKey: ws.TransitKeyName(), Namespace: ws.NamespaceName(),
		},
	}
	steps := []deletionStep{
		{"scaling the runtime to 0", r.deleteScaleDown},
		{"exporting the workspace (spec.deletion.export)", r.deleteExport},
		{"removing the workspace's Integrations", r.deleteIntegrations},
		{"dropping database and role " + ws.DatabaseName(), r.deleteDatabase},
		{"destroying Vault subtree " + d.receipt.VaultSubtree, r.deleteVaultData},
		{"deleting Vault policy, auth role and identity " + ws.VaultName(), r.deleteVaultAccess},
		{"scheduling backup expiry", r.deleteBackupsAndKey},
		{"deleting namespace " + ws.NamespaceName(), r.deleteNamespace},
		{"recording deletion receipt", r.deleteRecordReceipt},
	}
	for _, step := range steps {
		if r.BeforeDeletionStep != nil {
			r.BeforeDeletionStep(ctx, ws.Name, step.name)
		}
		ws.SetTrue(tenancyv1.ConditionDeleting, tenancyv1.ReasonDeletionInProgress, step.name)
		ws.SetFalse(tenancyv1.ConditionReady, tenancyv1.ReasonDeletionInProgress, "deleting: "+step.name)
		done, err := step.run(ctx, d)
		if err != nil {
			reason := tenancyv1.ReasonDeletionInProgress
			if se := (*stepError)(nil); errors.As(err, &se) {
				reason = se.reason
			}
			ws.SetFalse(tenancyv1.ConditionDeleting, reason, step.name+": "+err.Error())
			log.Info("deletion step failed; will retry", "step", step.name, "error", err.Error())
			return ctrl.Result{RequeueAfter: r.RetryAfter}, nil
		}
		if !done {
			return ctrl.Result{RequeueAfter: deletionWait}, nil
		}
	}

	patch := client.MergeFrom(ws.DeepCopy())
	controllerutil.RemoveFinalizer(ws, tenancyv1.WorkspaceFinalizer)
	if err := r.Patch(ctx, ws, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	forgetBackupMetrics(ws.Name)
	r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventDeleted, "Delete",
		"workspace deleted (deletionPolicy %s); receipt #%d in the receipt log of namespace %s (switchboard receipts verify)", d.receipt.DeletionPolicy, d.receiptSeq, r.ReceiptsNamespace)
	return ctrl.Result{}, nil
}

// deleteScaleDown scales the runtime to zero, so nothing writes while data goes.
func (r *WorkspaceReconciler) deleteScaleDown(ctx context.Context, d *deletionScope) (bool, error) {
	dep := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKey{Namespace: d.ws.NamespaceName(), Name: specs.RuntimeName}, dep)
	switch {
	case err == nil && (dep.Spec.Replicas == nil || *dep.Spec.Replicas != 0) && dep.DeletionTimestamp.IsZero() && ownedBy(dep, d.ws):
		patch := client.MergeFrom(dep.DeepCopy())
		dep.Spec.Replicas = ptr.To(int32(0))
		if err := r.Patch(ctx, dep, patch); err != nil && !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("scaling the runtime to 0: %w", err)
		}
	case err != nil && !apierrors.IsNotFound(err):
		return false, fmt.Errorf("reading the runtime deployment: %w", err)
	}
	return true, nil
}

// deleteIntegrations deletes the Integrations in the workspace's namespace
// and waits until their finalizers have run. Once they are gone no
// Integration pass can write credentials into the subtree the next steps
// destroy (an Integration of a Workspace being deleted never writes).
func (r *WorkspaceReconciler) deleteIntegrations(ctx context.Context, d *deletionScope) (bool, error) {
	ours, err := r.namespaceIsOurs(ctx, d.ws)
	if err != nil || !ours {
		return err == nil, err
	}
	var list tenancyv1.IntegrationList
	if err := r.APIReader.List(ctx, &list, client.InNamespace(d.ws.NamespaceName())); err != nil {
		return false, fmt.Errorf("listing Integrations: %w", err)
	}
	for i := range list.Items {
		in := &list.Items[i]
		if in.DeletionTimestamp.IsZero() {
			if err := r.Delete(ctx, in); err != nil && !apierrors.IsNotFound(err) {
				return false, fmt.Errorf("deleting Integration %s: %w", in.Name, err)
			}
		}
	}
	return len(list.Items) == 0, nil
}

// namespaceIsOurs says whether ws-<name> exists and was made for ws.
func (r *WorkspaceReconciler) namespaceIsOurs(ctx context.Context, ws *tenancyv1.Workspace) (bool, error) {
	ns := &corev1.Namespace{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Name: ws.NamespaceName()}, ns)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading namespace: %w", err)
	}
	return ownedBy(ns, ws), nil
}

// deleteDatabase drops the database and the role, unless they are retained
// or are not this Workspace's.
func (r *WorkspaceReconciler) deleteDatabase(ctx context.Context, d *deletionScope) (bool, error) {
	ws, receipt := d.ws, d.receipt
	switch _, known := r.DB.Server(ws.Spec.DatabaseServer); {
	case d.retain:
		receipt.Notes = append(receipt.Notes, "deletionPolicy Retain: database, role and Vault data kept")
	case known:
		dropped, err := r.DB.Drop(ctx, ws.Spec.DatabaseServer, tenantOf(ws))
		if err != nil {
			return false, fmt.Errorf("dropping database and role: %w", err)
		}
		if dropped.Database || dropped.Role {
			r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventDatabaseDropped, "Delete",
				"dropped database and role %s on server %s", ws.DatabaseName(), ws.Spec.DatabaseServer)
		}
		receipt.Notes = append(receipt.Notes, dropped.Kept...)
		receipt.DatabaseDropped, receipt.RoleDropped = true, true
		if err := r.appendReceipt(ctx, "database.dropped/"+string(ws.UID), receipts.KindDatabaseDropped, ws, "Database/"+ws.DatabaseName(),
			map[string]any{"server": ws.Spec.DatabaseServer, "database": ws.DatabaseName(), "databaseDropped": dropped.Database,
				"roleDropped": dropped.Role, "scratchDropped": len(dropped.Scratch), "kept": dropped.Kept}); err != nil {
			return false, err
		}
	case ws.Status.Database != nil:
		// The database was created on a server the operator no longer knows:
		// removing the finalizer now would leave it behind unseen.
		return false, fmt.Errorf("cannot drop database %s: server %q is no longer in --database-servers", ws.DatabaseName(), ws.Spec.DatabaseServer)
	default:
		receipt.Notes = append(receipt.Notes, "no database was ever created: server "+ws.Spec.DatabaseServer+" is unknown")
	}
	return true, nil
}

// deleteVaultData destroys every version and the metadata of every secret
// under the subtree, then the subtree's ownership mark, unless retained or
// marked for another Workspace.
func (r *WorkspaceReconciler) deleteVaultData(ctx context.Context, d *deletionScope) (bool, error) {
	ws, receipt := d.ws, d.receipt
	if d.retain {
		return true, nil
	}
	owner, err := r.Vault.SubtreeOwner(ctx, ws.VaultPath())
	if err != nil {
		return false, fmt.Errorf("reading the subtree's owner: %w", err)
	}
	if owner != string(ws.UID) {
		entries, err := r.Vault.ListKV(ctx, ws.VaultPath())
		if err != nil {
			return false, fmt.Errorf("listing the subtree: %w", err)
		}
		if owner != "" || len(entries) > 0 {
			receipt.Notes = append(receipt.Notes, "Vault subtree "+receipt.VaultSubtree+" "+external.Describe(owner)+"; left untouched")
			return true, nil
		}
	}
	n, err := r.Vault.DestroyTree(ctx, ws.VaultPath())
	if err != nil {
		return false, fmt.Errorf("destroying Vault data: %w", err)
	}
	if _, err := r.Vault.DestroyKV(ctx, ws.VaultPath()); err != nil {
		return false, fmt.Errorf("destroying the subtree's mark: %w", err)
	}
	if _, err := r.Vault.DestroyKV(ctx, retentionKeyPath(ws)); err != nil {
		return false, fmt.Errorf("destroying the pseudonymisation key: %w", err)
	}
	if err := r.appendReceipt(ctx, "vault.destroyed/"+string(ws.UID), receipts.KindVaultDestroyed, ws, "VaultSubtree/"+receipt.VaultSubtree,
		map[string]any{"subtree": receipt.VaultSubtree, "secrets": n, "pseudonymisationKey": retentionKeyPath(ws)}); err != nil {
		return false, err
	}
	if n > 0 {
		r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventVaultDataDestroyed, "Delete",
			"destroyed every version and the metadata of %d secrets under %s", n, receipt.VaultSubtree)
	}
	receipt.VaultDataDestroyed = true
	return true, nil
}

// deleteVaultAccess removes the policy, the auth role and the identity that
// runtime logins created: only the runtime used them.
func (r *WorkspaceReconciler) deleteVaultAccess(ctx context.Context, d *deletionScope) (bool, error) {
	ws, receipt := d.ws, d.receipt
	policyKept, err := r.Vault.DeletePolicy(ctx, ws.VaultName(), string(ws.UID))
	if err != nil {
		return false, fmt.Errorf("deleting Vault policy: %w", err)
	}
	role := authRoleOf(ws)
	roleKept, err := r.Vault.DeleteAuthRole(ctx, role.Name, role.Policies)
	if err != nil {
		return false, fmt.Errorf("deleting Vault auth role: %w", err)
	}
	if _, err := r.Vault.DeleteIdentity(ctx, ws.NamespaceName(), specs.ServiceAccountName); err != nil {
		return false, fmt.Errorf("deleting the runtime's Vault identity: %w", err)
	}
	if policyKept {
		receipt.Notes = append(receipt.Notes, "Vault policy "+ws.VaultName()+" is not this Workspace's; left untouched")
	}
	if roleKept {
		receipt.Notes = append(receipt.Notes, "Vault auth role "+ws.VaultName()+" is not this Workspace's; left untouched")
	}
	receipt.VaultPolicyDeleted, receipt.VaultAuthRoleDelete = !policyKept, !roleKept
	return true, nil
}

// deleteBackupsAndKey makes backups expire at deletedAt + afterDeletion. The
// transit key that can read them is shredded now if the policy says so, or if
// there is nothing left for it to read.
func (r *WorkspaceReconciler) deleteBackupsAndKey(ctx context.Context, d *deletionScope) (bool, error) {
	ws, receipt := d.ws, d.receipt
	policy, err := resolvePolicy(ctx, r.APIReader, ws)
	var perr *PolicyError
	if errors.As(err, &perr) {
		// An ambiguous or missing policy shreds nothing: backups expire
		// after the built-in afterDeletion.
		receipt.Notes = append(receipt.Notes, "no RetentionPolicy could be resolved ("+perr.Message+"); backups expire after the built-in 90d and no key is shredded early")
		policy, err = nil, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading retention policy: %w", err)
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
	backups, err := r.expireBackups(ctx, ws, afterDeletion, shred)
	if err != nil {
		return false, fmt.Errorf("scheduling backup expiry: %w", err)
	}
	receipt.Backups = backups
	if shred || (!d.retain && len(backups) == 0) {
		if err := r.Vault.ShredTransitKey(ctx, ws.TransitKeyName()); err != nil {
			return false, fmt.Errorf("shredding transit key: %w", err)
		}
		if r.Backups != nil && r.Backups.DestroyLedger != nil {
			n, err := r.Backups.DestroyLedger(ctx, ws.Name, string(ws.UID))
			if err != nil {
				return false, fmt.Errorf("destroying the erasure ledger: %w", err)
			}
			receipt.ErasureLedgerDestroyed, receipt.ErasureLedgerEntries = true, n
		}
		if shred {
			r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventTransitKeyShredded, "Delete",
				"shredded transit key %s: the workspace's %d backups can no longer be decrypted", ws.TransitKeyName(), len(backups))
		}
		receipt.TransitKeyShredded = true
	} else {
		receipt.Notes = append(receipt.Notes, fmt.Sprintf("transit key %s kept to read %d backups until they expire", ws.TransitKeyName(), len(backups)))
	}
	return true, nil
}

// deleteNamespace deletes the namespace, if it is this Workspace's; its
// objects go with it.
func (r *WorkspaceReconciler) deleteNamespace(ctx context.Context, d *deletionScope) (bool, error) {
	ws, receipt := d.ws, d.receipt
	ns := &corev1.Namespace{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Name: ws.NamespaceName()}, ns)
	switch {
	case err == nil && !ownedBy(ns, ws):
		receipt.Notes = append(receipt.Notes, "namespace "+ns.Name+" is not this Workspace's; left untouched")
	case err == nil && ns.DeletionTimestamp.IsZero():
		if err := r.Delete(ctx, ns, client.Preconditions{UID: &ns.UID}); err != nil && !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("deleting namespace: %w", err)
		}
	case err != nil && !apierrors.IsNotFound(err):
		return false, fmt.Errorf("reading namespace: %w", err)
	}
	receipt.NamespaceDeleted = true
	if d.retain {
		r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventDataRetained, "Delete",
			"deletionPolicy Retain: database %s on server %s and Vault subtree %s are kept; the runtime and namespace are removed. A new Workspace takes them over only with annotation %s: %s",
			ws.DatabaseName(), ws.Spec.DatabaseServer, receipt.VaultSubtree, tenancyv1.AnnotationAdoptDataFrom, ws.UID)
	}
	return true, nil
}

// deleteRecordReceipt appends the receipt to the hash-chained receipt log.
func (r *WorkspaceReconciler) deleteRecordReceipt(ctx context.Context, d *deletionScope) (bool, error) {
	d.receipt.CompletedAt = time.Now().UTC()
	e, _, err := r.Receipts.AppendOnce(ctx, "workspace.deleted/"+string(d.ws.UID), receipts.KindWorkspaceDeleted,
		d.ws.Name, string(d.ws.UID), "Workspace/"+d.ws.Name, *d.receipt)
	if err != nil {
		return false, fmt.Errorf("recording deletion receipt: %w", err)
	}
	d.receiptSeq = e.Seq
	return true, nil
}

// appendReceipt records one destructive act in the receipt log, once.
func (r *WorkspaceReconciler) appendReceipt(ctx context.Context, key, kind string, ws *tenancyv1.Workspace, object string, details any) error {
	if _, _, err := r.Receipts.AppendOnce(ctx, key, kind, ws.Name, string(ws.UID), object, details); err != nil {
		return fmt.Errorf("recording a receipt: %w", err)
	}
	return nil
}

// expireBackups sets every backup of the workspace to expire at
// deletedAt + afterDeletion, or earlier if it already would.
func (r *WorkspaceReconciler) expireBackups(ctx context.Context, ws *tenancyv1.Workspace, afterDeletion time.Duration, shred bool) ([]BackupExpiry, error) {
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
		// A backup of an earlier Workspace of the same name is not this one's.
		if b.Spec.Workspace != ws.Name || (b.Status.WorkspaceUID != "" && b.Status.WorkspaceUID != string(ws.UID)) ||
			(b.Status.WorkspaceUID == "" && b.CreationTimestamp.Before(&ws.CreationTimestamp)) {
			continue
		}
		want := deadline
		if b.Status.ExpiresAt != nil && b.Status.ExpiresAt.Before(&deadline) {
			want = *b.Status.ExpiresAt
		}
		shredded := shred && (b.Status.Phase == tenancyv1.BackupCompleted || b.Status.Phase == tenancyv1.BackupShredded)
		if b.Status.ExpiresAt == nil || !b.Status.ExpiresAt.Equal(&want) || b.Status.WorkspaceDeletedAt == nil || b.Status.WorkspaceUID == "" ||
			(shredded && b.Status.Phase != tenancyv1.BackupShredded) {
			patch := client.MergeFrom(b.DeepCopy())
			if shredded {
				b.Status.Phase = tenancyv1.BackupShredded
				b.SetCondition(tenancyv1.BackupConditionPurged, metav1.ConditionFalse, tenancyv1.BackupReasonKeyShredded,
					"Workspace "+ws.Name+" was deleted with shredOnDelete: transit key "+ws.TransitKeyName()+" is destroyed, so the artifact can never be decrypted; it is being purged")
			}
			b.Status.ExpiresAt = &want
			b.Status.WorkspaceUID = string(ws.UID)
			if b.Status.TransitKey == "" {
				b.Status.TransitKey = ws.TransitKeyName()
			}
			b.Status.WorkspaceDeletedAt = ptr.To(metav1.NewTime(ws.DeletionTimestamp.UTC()))
			if err := r.Status().Patch(ctx, b, patch); err != nil && !apierrors.IsNotFound(err) {
				return nil, err
			}
		}
		out = append(out, BackupExpiry{Name: b.Name, ExpiresAt: want.Time, Shredded: shredded})
	}
	return out, nil
}
