package contract

import (
	"encoding/json"
	"maps"
	"strings"
	"time"
)

// How the runtime learns its Integrations, and how it reports on them.
//
// The runtime has no Kubernetes API token, so everything goes through the
// workspace's Vault subtree:
//
//   - EntryChannels, written by the operator only, is the manifest: one
//     ChannelInfo per Integration that is connected, with its type, its
//     non-secret config and the Vault version of its credentials. An
//     Integration leaves the manifest when it is disconnected or deleted,
//     before its credentials are destroyed.
//   - IntegrationEntry(name), written by the operator only, holds the
//     credentials copied from the Integration's Secret.
//   - TokensEntry(name), written by the runtime only (for types that obtain
//     tokens themselves: microsoft), holds the OAuth tokens. The runtime's
//     Vault policy may write exactly the TokensEntry of each Integration of
//     such a type in its namespace, and nothing else in the subtree except
//     its health entries.
//   - HealthEntry(name), written by the runtime, is what the runtime found
//     when it last used the Integration (ChannelHealth). The operator reads
//     it into the Integration's Ready condition. It holds codes and
//     provider messages, never a secret.
//
// The runtime polls the manifest every ManifestPollInterval, so a rotation,
// a new Integration or a disconnection reaches it within that time.
const (
	// EntryChannels is the manifest of connected Integrations (ChannelManifest).
	EntryChannels = "channels"
	// ChannelManifestKey is the key of EntryChannels holding the manifest as JSON.
	ChannelManifestKey = "manifest"
	// ChannelHealthKey is the key of a HealthEntry holding ChannelHealth as JSON.
	ChannelHealthKey = "health"
	entryTokens      = "tokens/"
	entryHealth      = "health/"
)

// ManifestPollInterval is how often the runtime reads the manifest: an
// Integration disconnected in the operator stops in the runtime within it.
const ManifestPollInterval = 2 * time.Second

// TokensEntry is the entry, relative to the subtree, holding the OAuth
// tokens the runtime obtained for an Integration (see the Token* keys).
func TokensEntry(integration string) string { return entryTokens + integration }

// HealthEntry is the entry, relative to the subtree, where the runtime
// reports on an Integration.
func HealthEntry(integration string) string { return entryHealth + integration }

// Keys of a TokensEntry.
const (
	TokenAccess  = "accessToken"
	TokenRefresh = "refreshToken"
	// TokenExpiresAt is the access token's expiry, RFC 3339.
	TokenExpiresAt = "expiresAt"
	// TokenAccount is the mailbox the tokens are for.
	TokenAccount = "account"
	// TokenCredentialsVersion is the credentials version (client id and
	// secret) the tokens were obtained with.
	TokenCredentialsVersion = "credentialsVersion"
)

// ChannelManifest lists a workspace's connected Integrations by name.
type ChannelManifest struct {
	Integrations map[string]ChannelInfo `json:"integrations"`
}

// ChannelInfo is one Integration as the runtime needs to know it. None of
// it is secret.
type ChannelInfo struct {
	// Type is the Integration's spec.type (whatsapp, telnyx, imap, ...).
	Type string `json:"type"`
	// UID is the Integration's UID: a re-created Integration of the same
	// name is a new connection.
	UID string `json:"uid"`
	// Config is the Integration's spec.config.
	Config map[string]string `json:"config,omitempty"`
	// CredentialsVersion is the Vault version of IntegrationEntry(name) the
	// runtime must use: a higher one is a rotation.
	CredentialsVersion int `json:"credentialsVersion"`
	// WebhookPath is where the provider delivers webhooks, or "".
	WebhookPath string `json:"webhookPath,omitempty"`
}

// Equal says whether two entries describe the same connection with the
// same config and credentials: an adapter opened for one serves the other.
func (c ChannelInfo) Equal(o ChannelInfo) bool {
	return c.Type == o.Type && c.UID == o.UID && c.CredentialsVersion == o.CredentialsVersion &&
		c.WebhookPath == o.WebhookPath && maps.Equal(c.Config, o.Config)
}

// EncodeManifest and DecodeManifest are the manifest's one serialisation.
func EncodeManifest(m ChannelManifest) string {
	if m.Integrations == nil {
		m.Integrations = map[string]ChannelInfo{}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// DecodeManifest parses what EncodeManifest wrote; "" is an empty manifest.
func DecodeManifest(s string) (ChannelManifest, error) {
	m := ChannelManifest{Integrations: map[string]ChannelInfo{}}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	err := json.Unmarshal([]byte(s), &m)
	if m.Integrations == nil {
		m.Integrations = map[string]ChannelInfo{}
	}
	return m, err
}

// Health states the runtime reports.
const (
	// HealthConnected: the adapter authenticated and works.
	HealthConnected = "Connected"
	// HealthAuthFailed: the provider refused the credentials (Code says how).
	HealthAuthFailed = "AuthFailed"
	// HealthReauthorizationRequired: an OAuth grant is gone (invalid_grant)
	// or was never made; a tenant admin must connect the account again.
	HealthReauthorizationRequired = "ReauthorizationRequired"
	// HealthUnreachable: the provider or server did not answer; the adapter
	// keeps trying.
	HealthUnreachable = "Unreachable"
	// HealthMisconfigured: the Integration's config or credentials cannot
	// work (a bad key format, a missing setting); Message says which.
	HealthMisconfigured = "Misconfigured"
)

// ChannelHealth is what the runtime found when it last used an Integration.
type ChannelHealth struct {
	// State is one of the Health* constants.
	State string `json:"state"`
	// Code is the provider's error code, if any (e.g. "190", "10009",
	// "invalid_grant", "AUTHENTICATIONFAILED").
	Code string `json:"code,omitempty"`
	// Message is a short human explanation, with no secret in it.
	Message string `json:"message,omitempty"`
	// UID and CredentialsVersion say which connection and credentials this
	// is about: a report on older credentials is stale.
	UID                string    `json:"uid"`
	CredentialsVersion int       `json:"credentialsVersion"`
	At                 time.Time `json:"at"`
}

// MaxHealthMessage is the longest Message the operator copies.
const MaxHealthMessage = 300

// EncodeHealth and DecodeHealth are ChannelHealth's one serialisation.
func EncodeHealth(h ChannelHealth) string {
	if len(h.Message) > MaxHealthMessage {
		h.Message = h.Message[:MaxHealthMessage]
	}
	b, _ := json.Marshal(h)
	return string(b)
}

// DecodeHealth parses what EncodeHealth wrote.
func DecodeHealth(s string) (ChannelHealth, error) {
	var h ChannelHealth
	err := json.Unmarshal([]byte(s), &h)
	return h, err
}

// ChannelKey is how the runtime names an Integration's channel on
// conversations, messages and contact identities: "<type>/<name>", e.g.
// "telnyx/sms". The built-in API channel is "api", which has no slash.
func ChannelKey(integrationType, name string) string { return integrationType + "/" + name }

// SplitChannelKey is ChannelKey's inverse; ok is false for "api".
func SplitChannelKey(key string) (integrationType, name string, ok bool) {
	return strings.Cut(key, "/")
}

// WebhookPath is where an Integration's provider delivers webhooks on the
// workspace URL: "/webhooks/<type>/<name>". Types with no inbound webhooks
// (imap, microsoft, googlePlaces) have none.
func WebhookPath(integrationType, name string) string {
	switch integrationType {
	case "imap", "microsoft", "googlePlaces":
		return ""
	}
	return "/webhooks/" + integrationType + "/" + name
}

// TypesWithTokens are the Integration types whose runtime writes
// TokensEntry: the Vault policy grants that write for these only.
var TypesWithTokens = []string{"microsoft"}
