package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// Integration condition reasons and events.
const (
	// ReasonCredentialsStored: the credentials are in Vault at status.credentialsVersion.
	ReasonCredentialsStored = "CredentialsStored"
	// ReasonSecretNotFound: the Secret named by spec.credentialsSecretRef does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonMissingCredentialKeys: the Secret lacks keys the type requires.
	ReasonMissingCredentialKeys = "MissingCredentialKeys"
	// ReasonNoWorkspace: the namespace belongs to no Workspace.
	ReasonNoWorkspace = "NoWorkspace"
	// ReasonWorkspaceDeleting: the workspace is being deleted; nothing is written to Vault.
	ReasonWorkspaceDeleting = "WorkspaceDeleting"
	// ReasonWaitingForWorkspace: the workspace has not claimed its Vault subtree yet.
	ReasonWaitingForWorkspace = "WaitingForWorkspace"
	// ReasonDisconnected: spec.disconnected is true and the credentials are destroyed.
	ReasonDisconnected = "Disconnected"
	// ReasonRuntimeConnected: the runtime reports the connection works.
	ReasonRuntimeConnected = "RuntimeConnected"
	// ReasonAuthFailed: the runtime reports the provider refused the
	// credentials; the message carries the provider's code.
	ReasonAuthFailed = "AuthFailed"
	// ReasonReauthorizationRequired: the runtime reports an OAuth grant is
	// gone or was never made; a tenant admin must connect the account again.
	ReasonReauthorizationRequired = "ReauthorizationRequired"
	// ReasonProviderUnreachable: the runtime reports it cannot reach the
	// provider, and keeps trying.
	ReasonProviderUnreachable = "ProviderUnreachable"
	// ReasonMisconfigured: the runtime reports the config or credentials
	// cannot work as they are.
	ReasonMisconfigured = "Misconfigured"

	EventCredentialsStored    = "CredentialsStored"
	EventCredentialsRotated   = "CredentialsRotated"
	EventCredentialsDestroyed = "CredentialsDestroyed"
	EventSourceSecretRemoved  = "SourceSecretRemoved"
	EventRejected             = "Rejected"
	EventRuntimeHealth        = "RuntimeHealth"
)

// RequiredCredentialKeys lists, per type, the keys the credentials Secret must have.
// A microsoft Integration's refresh token is not among them: a tenant admin
// connects the mailbox from the runtime's settings page (OAuth with PKCE),
// and the runtime keeps the tokens in its own Vault entry. A refreshToken
// key, if given, only seeds that entry.
var RequiredCredentialKeys = map[IntegrationType][]string{
	IntegrationWhatsApp:     {"accessToken", "appSecret", "verifyToken"},
	IntegrationMessenger:    {"pageAccessToken", "appSecret", "verifyToken"},
	IntegrationIMAP:         {"password"},
	IntegrationMicrosoft:    {"clientId", "clientSecret"},
	IntegrationTelnyx:       {"apiKey", "publicKey"},
	IntegrationStripe:       {"secretKey", "webhookSecret"},
	IntegrationShopify:      {"accessToken", "clientSecret"},
	IntegrationGooglePlaces: {"apiKey"},
}

// VaultPath is where the credentials live, under the KV v2 mount.
func (in *Integration) VaultPath(workspace string) string {
	return contract.VaultSubtree(workspace) + "/" + contract.IntegrationEntry(in.Name)
}

// WebhookPath is where the provider delivers webhooks, on the workspace URL.
// Types without inbound webhooks (imap, microsoft, googlePlaces) have none.
func (in *Integration) WebhookPath() string {
	return contract.WebhookPath(string(in.Spec.Type), in.Name)
}

// SetCondition sets one condition, stamping the generation.
func (in *Integration) SetCondition(condType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&in.Status.Conditions, metav1.Condition{
		Type: condType, Status: status, Reason: reason, Message: message, ObservedGeneration: in.Generation,
	})
}
