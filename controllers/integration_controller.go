package controllers

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/external"
	"github.com/switchboard-dev/switchboard/controllers/receipts"
	"github.com/switchboard-dev/switchboard/controllers/vault"
	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// IntegrationReconciler copies an Integration's credentials into the tenant's
// Vault subtree, and destroys them on disconnection or deletion.
type IntegrationReconciler struct {
	client.Client
	// APIReader reads credential Secrets directly: the cache holds only their metadata.
	APIReader  client.Reader
	Recorder   recorder.EventRecorder
	Vault      *vault.Client
	RetryAfter time.Duration
	// Now is the clock of credentials.afterDisconnect (tests move it); nil is time.Now.
	Now func() time.Time
	// Receipts is the hash-chained log of every destructive act.
	Receipts *receipts.Log
	// HealthPoll is how often a connected Integration's runtime health
	// entry is read into its status; 0 is 15 s.
	HealthPoll time.Duration
}

// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=integrations,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=integrations/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=integrations/finalizers,verbs=update

// integrationScope is the state of one reconcile pass.
type integrationScope struct {
	in, before *tenancyv1.Integration
	// ws is the Workspace whose namespace the Integration is in, or nil.
	ws *tenancyv1.Workspace
	// secret is the credentials Secret, once read.
	secret *corev1.Secret
}

// integrationPhase is one step of a pass. stop ends the pass there: the
// condition it set says why.
type integrationPhase func(ctx context.Context, s *integrationScope) (stop bool, res ctrl.Result, err error)

// Reconcile brings one Integration towards its spec, one phase after the other.
func (r *IntegrationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	in := &tenancyv1.Integration{}
	if err := r.Get(ctx, req.NamespacedName, in); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s := &integrationScope{in: in, before: in.DeepCopy()}
	defer func() {
		patchStatus(ctx, r.Client, s.before, in, func(in *tenancyv1.Integration) tenancyv1.IntegrationStatus { return in.Status }, &result, &retErr)
	}()
	ws, err := r.workspaceOf(ctx, in.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	s.ws = ws

	phases := []integrationPhase{
		r.requireWorkspace, r.ensureFinalizer, r.disconnect, r.readSecret, r.storeCredentials, r.removeSourceSecret, r.markConnected,
	}
	if !in.DeletionTimestamp.IsZero() {
		phases = []integrationPhase{r.destroyOnDelete}
	}
	for _, phase := range phases {
		stop, res, err := phase(ctx, s)
		if stop || err != nil {
			return res, err
		}
	}
	return ctrl.Result{}, nil
}

// destroyOnDelete destroys the credentials and lets the Integration go. A
// workspace deleted with deletionPolicy Retain keeps its Vault data,
// credentials included; with Delete its whole subtree is destroyed by the
// workspace's own finalizer too.
func (r *IntegrationReconciler) destroyOnDelete(ctx context.Context, s *integrationScope) (bool, ctrl.Result, error) {
	in, ws := s.in, s.ws
	if !controllerutil.ContainsFinalizer(in, tenancyv1.IntegrationFinalizer) {
		return true, ctrl.Result{}, nil
	}
	if ws != nil && (ws.DeletionTimestamp.IsZero() || ws.EffectiveDeletionPolicy() == tenancyv1.DeletionPolicyDelete) {
		if err := r.unpublish(ctx, in, ws); err != nil {
			res, err := r.vaultError(in, "taking the Integration out of the workspace's manifest", err)
			return true, res, err
		}
		if err := r.destroy(ctx, in, ws); err != nil {
			res, err := r.vaultError(in, "destroying credentials", err)
			return true, res, err
		}
	}
	patch := client.MergeFrom(in.DeepCopy())
	controllerutil.RemoveFinalizer(in, tenancyv1.IntegrationFinalizer)
	return true, ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, in, patch))
}

// requireWorkspace stops the pass unless the namespace is a Workspace's, and
// that Workspace is not being deleted.
func (r *IntegrationReconciler) requireWorkspace(_ context.Context, s *integrationScope) (bool, ctrl.Result, error) {
	in, ws := s.in, s.ws
	if ws == nil {
		in.Status.Phase = tenancyv1.IntegrationFailed
		in.SetCondition(tenancyv1.ConditionReady, metav1.ConditionFalse, tenancyv1.ReasonNoWorkspace,
			fmt.Sprintf("namespace %s belongs to no Workspace: Integrations live in a workspace's namespace (ws-<name>)", in.Namespace))
		if c := meta.FindStatusCondition(s.before.Status.Conditions, tenancyv1.ConditionReady); c == nil || c.Reason != tenancyv1.ReasonNoWorkspace {
			r.Recorder.Eventf(in, nil, "Warning", tenancyv1.EventRejected, "Validate", "namespace %s belongs to no Workspace", in.Namespace)
		}
		return true, ctrl.Result{}, nil
	}
	in.Status.Workspace = ws.Name
	if !ws.DeletionTimestamp.IsZero() {
		// The workspace's deletion destroys its subtree: a write now could
		// land after that and outlive it. Its deletion deletes this
		// Integration too.
		in.SetCondition(tenancyv1.ConditionReady, metav1.ConditionFalse, tenancyv1.ReasonWorkspaceDeleting,
			"workspace "+ws.Name+" is being deleted: nothing is written to Vault")
		return true, ctrl.Result{}, nil
	}
	return false, ctrl.Result{}, nil
}

// ensureFinalizer guards the credentials in Vault before any is written.
func (r *IntegrationReconciler) ensureFinalizer(ctx context.Context, s *integrationScope) (bool, ctrl.Result, error) {
	in := s.in
	if controllerutil.ContainsFinalizer(in, tenancyv1.IntegrationFinalizer) {
		return false, ctrl.Result{}, nil
	}
	patch := client.MergeFrom(in.DeepCopy())
	controllerutil.AddFinalizer(in, tenancyv1.IntegrationFinalizer)
	// The patch's answer carries the stored status; this pass's own goes on.
	status := in.Status.DeepCopy()
	if err := r.Patch(ctx, in, patch); err != nil {
		return true, ctrl.Result{}, err
	}
	in.Status = *status
	// The status patch checks the resourceVersion: this write is ours.
	s.before.ResourceVersion = in.ResourceVersion
	return false, ctrl.Result{}, nil
}

// disconnect destroys the credentials of a disconnected Integration: at
// once, or once the effective RetentionPolicy's credentials.afterDisconnect
// has passed since the disconnection (reconnecting within it keeps them).
// A workspace whose policy is missing or ambiguous gets 0d, which meets
// every allowed value.
func (r *IntegrationReconciler) disconnect(ctx context.Context, s *integrationScope) (bool, ctrl.Result, error) {
	in := s.in
	if !in.Spec.Disconnected {
		in.Status.DisconnectedAt, in.Status.CredentialsDestroyedAt = nil, nil
		return false, ctrl.Result{}, nil
	}
	now := r.now()
	if in.Status.DisconnectedAt == nil {
		in.Status.DisconnectedAt = &metav1.Time{Time: now.UTC().Truncate(time.Second)}
	}
	in.Status.Phase = tenancyv1.IntegrationDisconnected
	in.Status.WebhookPath = ""
	in.Status.ObservedGeneration = in.Generation
	// The runtime stops using the credentials at once, whatever the
	// afterDisconnect window keeps them for.
	if err := r.unpublish(ctx, in, s.ws); err != nil {
		res, err := r.vaultError(in, "taking the Integration out of the workspace's manifest", err)
		return true, res, err
	}

	var window time.Duration
	policy, err := resolvePolicy(ctx, r.Client, s.ws)
	var perr *PolicyError
	switch {
	case errors.As(err, &perr):
	case err != nil:
		return true, ctrl.Result{}, err
	case policy != nil && policy.Spec.Credentials.AfterDisconnect != "":
		window, _ = policy.Spec.Credentials.AfterDisconnect.Parse()
	}
	if until := in.Status.DisconnectedAt.Add(window); in.Status.CredentialsDestroyedAt == nil && now.Before(until) {
		in.SetCondition(tenancyv1.ConditionReady, metav1.ConditionFalse, tenancyv1.ReasonDisconnected,
			fmt.Sprintf("disconnected; the credentials stay in Vault until %s (credentials.afterDisconnect %s of RetentionPolicy %s), then every version is destroyed; reconnect before then to keep them",
				until.UTC().Format(time.RFC3339), policy.Spec.Credentials.AfterDisconnect, policy.Name))
		return true, ctrl.Result{RequeueAfter: until.Sub(now) + time.Second}, nil
	}
	if err := r.destroy(ctx, in, s.ws); err != nil {
		res, err := r.vaultError(in, "destroying credentials", err)
		return true, res, err
	}
	if in.Status.CredentialsDestroyedAt == nil {
		in.Status.CredentialsDestroyedAt = &metav1.Time{Time: now.UTC().Truncate(time.Second)}
	}
	in.Status.CredentialsVersion = 0
	in.SetCondition(tenancyv1.ConditionReady, metav1.ConditionFalse, tenancyv1.ReasonDisconnected,
		"disconnected: every version of the credentials and their metadata were destroyed in Vault")
	return true, ctrl.Result{}, nil
}

func (r *IntegrationReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// readSecret reads the credentials Secret and checks it has the type's keys.
// A Secret removed by design (removeSourceSecret) is fine while Vault holds
// the credentials.
func (r *IntegrationReconciler) readSecret(ctx context.Context, s *integrationScope) (bool, ctrl.Result, error) {
	in := s.in
	secret := &corev1.Secret{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: in.Namespace, Name: in.Spec.CredentialsSecretRef.Name}, secret)
	switch {
	case apierrors.IsNotFound(err):
		if in.Spec.RemoveSourceSecret {
			// Vault, not the status (which may be a stale cached copy), says
			// whether the copy happened.
			res, err := r.checkStored(ctx, in, s.ws.Name)
			if err != nil || in.Status.Phase != tenancyv1.IntegrationConnected {
				return true, res, err
			}
			_, res, err = r.markConnected(ctx, s)
			return true, res, err
		}
		in.Status.Phase = tenancyv1.IntegrationPending
		in.SetCondition(tenancyv1.ConditionReady, metav1.ConditionFalse, tenancyv1.ReasonSecretNotFound,
			fmt.Sprintf("spec.credentialsSecretRef: Secret %s not found in namespace %s", in.Spec.CredentialsSecretRef.Name, in.Namespace))
		return true, ctrl.Result{}, nil
	case err != nil:
		return true, ctrl.Result{}, err
	}
	if missing := missingKeys(in.Spec.Type, secret.Data); len(missing) > 0 {
		in.Status.Phase = tenancyv1.IntegrationFailed
		in.SetCondition(tenancyv1.ConditionReady, metav1.ConditionFalse, tenancyv1.ReasonMissingCredentialKeys,
			fmt.Sprintf("Secret %s lacks keys required for type %s: %s", secret.Name, in.Spec.Type, strings.Join(missing, ", ")))
		return true, ctrl.Result{}, nil
	}
	s.secret = secret
	return false, ctrl.Result{}, nil
}

// storeCredentials writes the Secret's data to Vault when Vault's latest
// version differs.
func (r *IntegrationReconciler) storeCredentials(ctx context.Context, s *integrationScope) (bool, ctrl.Result, error) {
	in, ws, secret := s.in, s.ws, s.secret
	path := in.VaultPath(ws.Name)
	have, err := r.Vault.ReadKV(ctx, path)
	if err != nil {
		res, err := r.vaultError(in, "reading credentials", err)
		return true, res, err
	}
	if have != nil && sameData(have.Data, secret.Data) {
		in.Status.CredentialsVersion = have.Version
		return false, ctrl.Result{}, nil
	}
	if res, ok, err := r.mayWrite(ctx, in, ws); !ok {
		return true, res, err
	}
	data := make(map[string]string, len(secret.Data))
	for k, v := range secret.Data {
		data[k] = string(v)
	}
	version, err := r.Vault.WriteKV(ctx, path, data, string(ws.UID))
	if err != nil {
		res, err := r.vaultError(in, "storing credentials", err)
		return true, res, err
	}
	if have == nil {
		r.Recorder.Eventf(in, nil, "Normal", tenancyv1.EventCredentialsStored, "Store",
			"credentials stored in Vault at %s/%s, version %d", r.Vault.Config().KVMount, path, version)
	} else {
		r.Recorder.Eventf(in, nil, "Normal", tenancyv1.EventCredentialsRotated, "Rotate",
			"credentials changed; Vault version %d replaces %d", version, have.Version)
	}
	in.Status.CredentialsVersion = version
	logf.FromContext(ctx).Info("credentials stored", "integration", in.Namespace+"/"+in.Name, "version", version)
	return false, ctrl.Result{}, nil
}

// removeSourceSecret deletes exactly the Secret just copied, when asked to.
func (r *IntegrationReconciler) removeSourceSecret(ctx context.Context, s *integrationScope) (bool, ctrl.Result, error) {
	in, secret := s.in, s.secret
	if !in.Spec.RemoveSourceSecret {
		return false, ctrl.Result{}, nil
	}
	err := r.Delete(ctx, secret, client.Preconditions{UID: &secret.UID, ResourceVersion: &secret.ResourceVersion})
	switch {
	case err == nil:
		r.Recorder.Eventf(in, nil, "Normal", tenancyv1.EventSourceSecretRemoved, "Remove",
			"deleted Secret %s: the credentials live in Vault only", secret.Name)
	case apierrors.IsConflict(err):
		// It changed since the copy; its update event brings the next pass,
		// which copies it again first.
		return true, ctrl.Result{RequeueAfter: time.Second}, nil
	case !apierrors.IsNotFound(err):
		return true, ctrl.Result{}, err
	}
	return false, ctrl.Result{}, nil
}

// mayWrite checks, just before credentials are written, that the workspace
// is not being deleted (read from the API server, not the cache) and that
// its Vault subtree is marked as its own. ok false means do not write; the
// condition says why.
func (r *IntegrationReconciler) mayWrite(ctx context.Context, in *tenancyv1.Integration, ws *tenancyv1.Workspace) (ctrl.Result, bool, error) {
	fresh := &tenancyv1.Workspace{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(ws), fresh); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, false, nil
		}
		return ctrl.Result{}, false, err
	}
	if fresh.UID != ws.UID || !fresh.DeletionTimestamp.IsZero() {
		in.SetCondition(tenancyv1.ConditionReady, metav1.ConditionFalse, tenancyv1.ReasonWorkspaceDeleting,
			"workspace "+ws.Name+" is being deleted: nothing is written to Vault")
		return ctrl.Result{}, false, nil
	}
	owner, err := r.Vault.SubtreeOwner(ctx, ws.VaultPath())
	if err != nil {
		res, err := r.vaultError(in, "reading the workspace's Vault subtree", err)
		return res, false, err
	}
	if owner != string(ws.UID) {
		in.Status.Phase = tenancyv1.IntegrationPending
		in.SetCondition(tenancyv1.ConditionReady, metav1.ConditionFalse, tenancyv1.ReasonWaitingForWorkspace,
			"waiting for workspace "+ws.Name+" to claim its Vault subtree (see its VaultReady condition)")
		return ctrl.Result{RequeueAfter: r.RetryAfter}, false, nil
	}
	return ctrl.Result{}, true, nil
}

// checkStored confirms the credentials are still in Vault when the source
// Secret is gone by design.
func (r *IntegrationReconciler) checkStored(ctx context.Context, in *tenancyv1.Integration, ws string) (ctrl.Result, error) {
	kv, err := r.Vault.ReadKV(ctx, in.VaultPath(ws))
	if err != nil {
		return r.vaultError(in, "reading credentials", err)
	}
	if kv == nil {
		// Credentials that were stored and are now lost are a failure; an
		// Integration whose Secret has not been created yet is pending.
		if in.Status.CredentialsVersion > 0 || in.Status.Phase == tenancyv1.IntegrationConnected || in.Status.Phase == tenancyv1.IntegrationFailed {
			in.Status.Phase = tenancyv1.IntegrationFailed
		} else {
			in.Status.Phase = tenancyv1.IntegrationPending
		}
		in.Status.CredentialsVersion = 0
		in.SetCondition(tenancyv1.ConditionReady, metav1.ConditionFalse, tenancyv1.ReasonSecretNotFound,
			fmt.Sprintf("spec.credentialsSecretRef: Secret %s not found in namespace %s, and Vault holds no credentials for this Integration: create the Secret",
				in.Spec.CredentialsSecretRef.Name, in.Namespace))
		return ctrl.Result{}, nil
	}
	in.Status.CredentialsVersion = kv.Version
	connected(in)
	return ctrl.Result{}, nil
}

// markConnected reports the credentials in Vault, lists the Integration in
// the workspace's manifest, so that its runtime opens it (or reopens it
// with rotated credentials), and reads what the runtime reported.
func (r *IntegrationReconciler) markConnected(ctx context.Context, s *integrationScope) (bool, ctrl.Result, error) {
	in, ws := s.in, s.ws
	connected(in)
	info := contract.ChannelInfo{Type: string(in.Spec.Type), UID: string(in.UID), Config: in.Spec.Config,
		CredentialsVersion: in.Status.CredentialsVersion, WebhookPath: in.WebhookPath()}
	// A connected Integration is reconciled every health poll: it checks
	// the manifest with one read, and writes (after mayWrite's checks)
	// only when the entry differs.
	listed, err := r.Vault.ManifestEntry(ctx, ws.VaultPath(), in.Name)
	if err != nil {
		res, err := r.vaultError(in, "reading the workspace's manifest", err)
		return true, res, err
	}
	if listed == nil || !listed.Equal(info) {
		if res, ok, err := r.mayWrite(ctx, in, ws); !ok {
			return true, res, err
		}
		err := r.Vault.UpdateManifest(ctx, ws.VaultPath(), string(ws.UID), func(m *contract.ChannelManifest) bool {
			if have, ok := m.Integrations[in.Name]; ok && have.Equal(info) {
				return false
			}
			m.Integrations[in.Name] = info
			return true
		})
		if err != nil {
			res, err := r.vaultError(in, "listing the Integration in the workspace's manifest", err)
			return true, res, err
		}
	}
	if err := r.readHealth(ctx, in, ws); err != nil {
		res, err := r.vaultError(in, "reading the runtime's health report", err)
		return true, res, err
	}
	return true, ctrl.Result{RequeueAfter: r.healthPoll()}, nil
}

func (r *IntegrationReconciler) healthPoll() time.Duration {
	if r.HealthPoll > 0 {
		return r.HealthPoll
	}
	return 15 * time.Second
}

// readHealth copies the runtime's report on this connection into the
// status and the Ready condition. A report on another Integration of the
// same name, or on older credentials, is stale and ignored.
func (r *IntegrationReconciler) readHealth(ctx context.Context, in *tenancyv1.Integration, ws *tenancyv1.Workspace) error {
	kv, err := r.Vault.ReadKV(ctx, ws.VaultPath()+"/"+contract.HealthEntry(in.Name))
	if err != nil {
		return err
	}
	if kv == nil {
		in.Status.Runtime = nil
		return nil
	}
	h, err := contract.DecodeHealth(kv.Data[contract.ChannelHealthKey])
	if err != nil || h.UID != string(in.UID) || h.CredentialsVersion < in.Status.CredentialsVersion {
		in.Status.Runtime = nil
		return nil
	}
	st := &tenancyv1.IntegrationRuntimeStatus{State: clean(h.State, 40), Code: clean(h.Code, 64), Message: clean(h.Message, contract.MaxHealthMessage),
		CredentialsVersion: h.CredentialsVersion, ReportedAt: metav1.Time{Time: h.At.UTC().Truncate(time.Second)}}
	before := in.Status.Runtime
	in.Status.Runtime = st
	var reason string
	switch st.State {
	case contract.HealthConnected:
		in.SetCondition(tenancyv1.ConditionReady, metav1.ConditionTrue, tenancyv1.ReasonRuntimeConnected,
			fmt.Sprintf("credentials in Vault, version %d; the runtime connected with them at %s", in.Status.CredentialsVersion, st.ReportedAt.Format(time.RFC3339)))
		return nil
	case contract.HealthAuthFailed:
		reason = tenancyv1.ReasonAuthFailed
	case contract.HealthReauthorizationRequired:
		reason = tenancyv1.ReasonReauthorizationRequired
	case contract.HealthUnreachable:
		reason = tenancyv1.ReasonProviderUnreachable
	default:
		reason = tenancyv1.ReasonMisconfigured
	}
	msg := "the runtime reports " + st.State
	if st.Code != "" {
		msg += " (code " + st.Code + ")"
	}
	if st.Message != "" {
		msg += ": " + st.Message
	}
	in.SetCondition(tenancyv1.ConditionReady, metav1.ConditionFalse, reason, msg)
	if before == nil || before.State != st.State || before.Code != st.Code {
		r.Recorder.Eventf(in, nil, "Warning", tenancyv1.EventRuntimeHealth, "Report", "%s", msg)
	}
	return nil
}

// clean keeps a runtime-written string printable and short.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// unpublish takes the Integration out of the workspace's manifest, so that
// its runtime closes the adapter (within contract.ManifestPollInterval),
// and removes the runtime's tokens and health entries. It runs before the
// credentials are destroyed, and only on a subtree marked as the
// workspace's own.
func (r *IntegrationReconciler) unpublish(ctx context.Context, in *tenancyv1.Integration, ws *tenancyv1.Workspace) error {
	owner, err := r.Vault.SubtreeOwner(ctx, ws.VaultPath())
	if err != nil || owner != string(ws.UID) {
		return err
	}
	err = r.Vault.UpdateManifest(ctx, ws.VaultPath(), string(ws.UID), func(m *contract.ChannelManifest) bool {
		if have, ok := m.Integrations[in.Name]; !ok || have.UID != string(in.UID) {
			return false
		}
		delete(m.Integrations, in.Name)
		return true
	})
	if err != nil {
		return err
	}
	for _, entry := range []string{contract.TokensEntry(in.Name), contract.HealthEntry(in.Name)} {
		if _, err := r.Vault.DestroyKV(ctx, ws.VaultPath()+"/"+entry); err != nil {
			return err
		}
	}
	in.Status.Runtime = nil
	return nil
}

func connected(in *tenancyv1.Integration) {
	in.Status.Phase = tenancyv1.IntegrationConnected
	in.Status.WebhookPath = in.WebhookPath()
	in.Status.ObservedGeneration = in.Generation
	in.SetCondition(tenancyv1.ConditionReady, metav1.ConditionTrue, tenancyv1.ReasonCredentialsStored,
		fmt.Sprintf("credentials in Vault, version %d", in.Status.CredentialsVersion))
}

// destroy removes every version and the metadata of the credentials, if the
// workspace's subtree is marked as its own: an entry under a subtree that
// belongs to someone else is not this Integration's to destroy.
func (r *IntegrationReconciler) destroy(ctx context.Context, in *tenancyv1.Integration, ws *tenancyv1.Workspace) error {
	owner, err := r.Vault.SubtreeOwner(ctx, ws.VaultPath())
	if err != nil || owner != string(ws.UID) {
		return err
	}
	path := in.VaultPath(ws.Name)
	destroyed, err := r.Vault.DestroyKV(ctx, path)
	if err != nil {
		return err
	}
	if destroyed {
		r.Recorder.Eventf(in, nil, "Normal", tenancyv1.EventCredentialsDestroyed, "Destroy",
			"destroyed every version and the metadata of %s/%s", r.Vault.Config().KVMount, path)
		if r.Receipts != nil {
			if _, err := r.Receipts.Append(ctx, receipts.KindVaultDestroyed, ws.Name, string(ws.UID), "Integration/"+in.Namespace+"/"+in.Name,
				map[string]any{"entry": r.Vault.Config().KVMount + "/" + path, "integration": in.Name, "type": string(in.Spec.Type),
					"why": map[bool]string{true: "disconnected", false: "deleted"}[in.DeletionTimestamp.IsZero()]}); err != nil {
				// The credentials are gone; only their receipt is missing.
				logf.FromContext(ctx).Error(err, "recording the receipt of destroyed credentials failed")
			}
		}
	}
	return nil
}

func (r *IntegrationReconciler) vaultError(in *tenancyv1.Integration, step string, err error) (ctrl.Result, error) {
	reason := tenancyv1.ReasonVaultError
	if external.IsUnreachable(err, external.Vault) {
		reason = tenancyv1.ReasonVaultUnreachable
	}
	in.SetCondition(tenancyv1.ConditionReady, metav1.ConditionFalse, reason, step+": "+err.Error())
	return ctrl.Result{RequeueAfter: r.RetryAfter}, nil
}

// workspaceOf returns the Workspace that owns namespace ns, or nil.
func (r *IntegrationReconciler) workspaceOf(ctx context.Context, ns string) (*tenancyv1.Workspace, error) {
	name, ok := contract.WorkspaceOfNamespace(ns)
	if !ok {
		return nil, nil
	}
	ws := &tenancyv1.Workspace{}
	if err := r.Get(ctx, types.NamespacedName{Name: name}, ws); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	// The namespace must really be the workspace's, not a look-alike.
	nsObj := &corev1.Namespace{}
	if err := r.Get(ctx, types.NamespacedName{Name: ns}, nsObj); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if !ownedBy(nsObj, ws) || metav1.GetControllerOf(nsObj) == nil {
		return nil, nil
	}
	return ws, nil
}

// missingKeys lists the keys a type requires that data lacks or has empty.
func missingKeys(t tenancyv1.IntegrationType, data map[string][]byte) []string {
	var missing []string
	for _, k := range tenancyv1.RequiredCredentialKeys[t] {
		if len(data[k]) == 0 {
			missing = append(missing, k)
		}
	}
	return missing
}

// sameData says whether Vault holds exactly the Secret's data.
func sameData(have map[string]string, want map[string][]byte) bool {
	if len(have) != len(want) {
		return false
	}
	for k, v := range want {
		if h, ok := have[k]; !ok || subtle.ConstantTimeCompare([]byte(h), v) != 1 {
			return false
		}
	}
	return true
}

// SetupWithManager registers the controller. Secrets are watched as metadata
// only, so the operator holds no credential in memory beyond one reconcile.
func (r *IntegrationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&tenancyv1.Integration{}).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.integrationsOfSecret)).
		Watches(&tenancyv1.Workspace{}, handler.EnqueueRequestsFromMapFunc(r.integrationsOfWorkspace)).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: 2,
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](
				500*time.Millisecond, r.RetryAfter),
		}).
		Complete(r)
}

func (r *IntegrationReconciler) integrationsOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	if !contract.IsWorkspaceNamespace(o.GetNamespace()) {
		return nil
	}
	var list tenancyv1.IntegrationList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, in := range list.Items {
		if in.Spec.CredentialsSecretRef.Name == o.GetName() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&in)})
		}
	}
	return out
}

func (r *IntegrationReconciler) integrationsOfWorkspace(ctx context.Context, o client.Object) []reconcile.Request {
	var list tenancyv1.IntegrationList
	if err := r.List(ctx, &list, client.InNamespace(contract.Namespace(o.GetName()))); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, in := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&in)})
	}
	return out
}
