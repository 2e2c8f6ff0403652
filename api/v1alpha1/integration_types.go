package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IntegrationType is the channel or service an Integration connects.
// +kubebuilder:validation:Enum=whatsapp;messenger;imap;microsoft;telnyx;stripe;shopify;googlePlaces
type IntegrationType string

// The Integration types.
const (
	IntegrationWhatsApp     IntegrationType = "whatsapp"
	IntegrationMessenger    IntegrationType = "messenger"
	IntegrationIMAP         IntegrationType = "imap"
	IntegrationMicrosoft    IntegrationType = "microsoft"
	IntegrationTelnyx       IntegrationType = "telnyx"
	IntegrationStripe       IntegrationType = "stripe"
	IntegrationShopify      IntegrationType = "shopify"
	IntegrationGooglePlaces IntegrationType = "googlePlaces"
)

// SecretReference names a Secret in the Integration's namespace.
type SecretReference struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// IntegrationSpec connects one channel or service to a workspace.
//
// The required keys of config, per type:
//   - whatsapp: phoneNumberId, businessAccountId
//   - messenger: pageId
//   - imap: imapHost, smtpHost, username
//   - microsoft: tenantId, mailbox
//   - telnyx: phoneNumber, messagingProfileId
//   - stripe: accountId
//   - shopify: shopDomain
//   - googlePlaces: placeId
//
// Optional keys of config for imap (the defaults suit most providers):
//   - imapPort: 993, or 143 with imapSecurity starttls or none
//   - imapSecurity: tls, starttls or none; tls unless imapPort is 143
//   - smtpPort: 587, or 465 with smtpSecurity tls
//   - smtpSecurity: tls, starttls or none; tls if smtpPort is 465, else starttls
//   - mailbox: the folder read into the inbox, INBOX by default
//   - fromAddress: the sender of replies; username when it is an address
//   - fromName: the sender's display name
//   - caCertificate: a PEM CA certificate trusted besides the system's roots,
//     for servers with a private CA
//   - saveSentCopy: "true" (default) appends each reply sent to the
//     sent-mail folder over IMAP; "false" for servers that file SMTP
//     submissions themselves (Gmail)
//   - sentMailbox: that folder; by default the one the server marks \Sent
//
// none sends the password in the clear: only for a server on a trusted
// network.
//
// Optional keys of config for microsoft: authorityURL (default
// https://login.microsoftonline.com), imapAddr (outlook.office365.com:993),
// smtpAddr (smtp.office365.com:587), imapSecurity, smtpSecurity,
// caCertificate (as for imap), folder (INBOX) and fromName.
//
// Optional for whatsapp, messenger, telnyx, shopify and googlePlaces:
// apiBaseURL, the provider API's base URL, for a proxy or an emulator
// (default: the provider's public API).
//
// The required keys of the credentials Secret, per type:
//   - whatsapp: accessToken, appSecret, verifyToken
//   - messenger: pageAccessToken, appSecret, verifyToken
//   - imap: password
//   - microsoft: clientId, clientSecret (a tenant admin then connects the
//     mailbox from the runtime's settings page; an optional refreshToken
//     only seeds the tokens the runtime keeps and rotates itself)
//   - telnyx: apiKey, publicKey
//   - stripe: secretKey, webhookSecret
//   - shopify: accessToken, clientSecret
//   - googlePlaces: apiKey
//
// +kubebuilder:validation:XValidation:rule="self.type == oldSelf.type",message="spec.type is immutable: create a new Integration instead"
// +kubebuilder:validation:XValidation:rule="self.type != 'whatsapp' || (has(self.config) && 'phoneNumberId' in self.config && 'businessAccountId' in self.config)",message="spec.config must have phoneNumberId and businessAccountId for type whatsapp",fieldPath=".config"
// +kubebuilder:validation:XValidation:rule="self.type != 'messenger' || (has(self.config) && 'pageId' in self.config)",message="spec.config must have pageId for type messenger",fieldPath=".config"
// +kubebuilder:validation:XValidation:rule="self.type != 'imap' || (has(self.config) && 'imapHost' in self.config && 'smtpHost' in self.config && 'username' in self.config)",message="spec.config must have imapHost, smtpHost and username for type imap",fieldPath=".config"
// +kubebuilder:validation:XValidation:rule="self.type != 'microsoft' || (has(self.config) && 'tenantId' in self.config && 'mailbox' in self.config)",message="spec.config must have tenantId and mailbox for type microsoft",fieldPath=".config"
// +kubebuilder:validation:XValidation:rule="self.type != 'telnyx' || (has(self.config) && 'phoneNumber' in self.config && 'messagingProfileId' in self.config)",message="spec.config must have phoneNumber and messagingProfileId for type telnyx",fieldPath=".config"
// +kubebuilder:validation:XValidation:rule="self.type != 'stripe' || (has(self.config) && 'accountId' in self.config)",message="spec.config must have accountId for type stripe",fieldPath=".config"
// +kubebuilder:validation:XValidation:rule="self.type != 'shopify' || (has(self.config) && 'shopDomain' in self.config)",message="spec.config must have shopDomain for type shopify",fieldPath=".config"
// +kubebuilder:validation:XValidation:rule="self.type != 'googlePlaces' || (has(self.config) && 'placeId' in self.config)",message="spec.config must have placeId for type googlePlaces",fieldPath=".config"
type IntegrationSpec struct {
	// type is the channel or service. It cannot be changed.
	Type IntegrationType `json:"type"`

	// config holds the non-secret settings of the connection. Its required keys
	// depend on type (see the description of spec). Never put a secret here.
	// An imap Integration also takes imapPort (993), imapSecurity (tls,
	// starttls or none), smtpPort (587), smtpSecurity (starttls), mailbox
	// (INBOX), fromAddress (username), fromName, caCertificate (a PEM CA),
	// saveSentCopy ("true") and sentMailbox (the server's \Sent folder).
	// +kubebuilder:validation:MaxProperties=32
	// +optional
	Config map[string]string `json:"config,omitempty"`

	// credentialsSecretRef names the Secret, in this namespace, whose keys are
	// copied to Vault. Its required keys depend on type.
	CredentialsSecretRef SecretReference `json:"credentialsSecretRef"`

	// removeSourceSecret deletes the Secret once its contents are safely in Vault,
	// so that the credentials live in Vault only.
	// +optional
	RemoveSourceSecret bool `json:"removeSourceSecret,omitempty"`

	// disconnected destroys the credentials in Vault (every version and the
	// metadata): at once, or when the effective RetentionPolicy's
	// credentials.afterDisconnect has passed. Set it back to false (with the
	// credentials still there, or a Secret) to reconnect.
	// +optional
	Disconnected bool `json:"disconnected,omitempty"`
}

// IntegrationPhase is a one-word summary of an Integration's state.
type IntegrationPhase string

// The phases of an Integration.
const (
	IntegrationPending      IntegrationPhase = "Pending"
	IntegrationConnected    IntegrationPhase = "Connected"
	IntegrationDisconnected IntegrationPhase = "Disconnected"
	IntegrationFailed       IntegrationPhase = "Failed"
)

// IntegrationStatus is what the operator observed. It never holds a secret.
type IntegrationStatus struct {
	// phase is Pending, Connected, Disconnected or Failed.
	// +optional
	Phase IntegrationPhase `json:"phase,omitempty"`

	// observedGeneration is the generation last reconciled without error.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// workspace is the Workspace that owns this namespace.
	// +optional
	Workspace string `json:"workspace,omitempty"`

	// credentialsVersion is the Vault KV v2 version holding the current credentials.
	// +optional
	CredentialsVersion int `json:"credentialsVersion,omitempty"`

	// webhookPath is the path, on the workspace URL, where the provider delivers webhooks.
	// +optional
	WebhookPath string `json:"webhookPath,omitempty"`

	// disconnectedAt is when the Integration was disconnected.
	// +optional
	DisconnectedAt *metav1.Time `json:"disconnectedAt,omitempty"`

	// credentialsDestroyedAt is when its credentials were destroyed in
	// Vault, after credentials.afterDisconnect.
	// +optional
	CredentialsDestroyedAt *metav1.Time `json:"credentialsDestroyedAt,omitempty"`

	// runtime is what the workspace's runtime last reported about this
	// Integration's connection (it writes a health entry to Vault, which
	// the operator reads every health poll). It never holds a secret.
	// +optional
	Runtime *IntegrationRuntimeStatus `json:"runtime,omitempty"`
}

// IntegrationRuntimeStatus is the runtime's report on a connection.
type IntegrationRuntimeStatus struct {
	// state is Connected, AuthFailed, ReauthorizationRequired, Unreachable or Misconfigured.
	State string `json:"state"`
	// code is the provider's error code, if any (for example 190, 10009, invalid_grant).
	// +optional
	Code string `json:"code,omitempty"`
	// message explains the state, in the provider's or the runtime's words.
	// +optional
	Message string `json:"message,omitempty"`
	// credentialsVersion is the credentials version the report is about.
	// +optional
	CredentialsVersion int `json:"credentialsVersion,omitempty"`
	// reportedAt is when the runtime found it.
	ReportedAt metav1.Time `json:"reportedAt"`
}

// Integration connects a channel (WhatsApp, Messenger, email, SMS) or service
// (Stripe, Shopify, Google Places) to a workspace. Its credentials live in Vault only.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=intg,categories=switchboard
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Runtime",type=string,JSONPath=`.status.runtime.state`
// +kubebuilder:printcolumn:name="Version",type=integer,JSONPath=`.status.credentialsVersion`,priority=1
// +kubebuilder:printcolumn:name="Webhook",type=string,JSONPath=`.status.webhookPath`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 63",message="metadata.name must be a DNS label (lower-case letters, digits and '-', at most 63 characters)"
type Integration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired connection.
	Spec IntegrationSpec `json:"spec"`
	// status is what the operator observed.
	// +optional
	Status IntegrationStatus `json:"status,omitempty"`
}

// IntegrationList is a list of Integrations.
// +kubebuilder:object:root=true
type IntegrationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Integration `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Integration{}, &IntegrationList{})
}
