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

	EventCredentialsStored    = "CredentialsStored"
	EventCredentialsRotated   = "CredentialsRotated"
	EventCredentialsDestroyed = "CredentialsDestroyed"
	EventSourceSecretRemoved  = "SourceSecretRemoved"
	EventRejected             = "Rejected"
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
// Types without inbound webhooks (imap, googlePlaces) have none.
func (in *Integration) WebhookPath() string {
	switch in.Spec.Type {
	case IntegrationIMAP, IntegrationGooglePlaces, IntegrationMicrosoft:
		return ""
	}
	return "/webhooks/" + string(in.Spec.Type) + "/" + in.Name
}

// SetCondition sets one condition, stamping the generation.
func (in *Integration) SetCondition(condType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&in.Status.Conditions, metav1.Condition{
		Type: condType, Status: status, Reason: reason, Message: message, ObservedGeneration: in.Generation,
	})
}
