package specs

import (
	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/config"
)

// Settings are the operator-wide inputs of the builders.
type Settings struct {
	RuntimeImage     string
	BaseDomain       string
	URLScheme        string
	IngressClass     string
	IngressNamespace string
	// VaultAddress is Vault as the runtime reaches it.
	VaultAddress   string
	VaultAuthMount string
	VaultKVMount   string
	VaultAudience  string
	// TrustedProxies are the CIDRs, comma-separated, of the proxies (the
	// ingress controller) whose X-Forwarded-For the runtime believes.
	TrustedProxies string
	// VaultEgress is where the runtime may connect to reach Vault.
	VaultEgress config.Egress
	// DatabaseEgress is, per database server, where its tenants' runtimes
	// may connect to reach it.
	DatabaseEgress map[string]config.Egress
	// DatabaseRegion is, per database server, its region label (region in
	// --database-servers), which the runtime shows as where its data lives.
	DatabaseRegion map[string]string
}

// Names used inside every tenant namespace.
const (
	RuntimeName        = "runtime"
	ServiceAccountName = "runtime"
	InitialOwnerSecret = "initial-owner"
	DefaultDenyPolicy  = "default-deny"
	RuntimePolicy      = "runtime"
	QuotaName          = "workspace"
	LimitRangeName     = "workspace"
	RuntimePort        = 8080
	// VaultTokenDir is where the runtime finds its projected ServiceAccount token.
	VaultTokenDir  = "/var/run/secrets/switchboard/vault"
	VaultTokenPath = VaultTokenDir + "/token"
)

// Labels are the labels of every object the operator creates for ws.
func Labels(ws *tenancyv1.Workspace) map[string]string {
	return map[string]string{
		tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue,
		tenancyv1.LabelWorkspace: ws.Name,
	}
}

// RuntimeSelector selects the runtime's pods.
func RuntimeSelector(ws *tenancyv1.Workspace) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     "switchboard-runtime",
		"app.kubernetes.io/instance": ws.Name,
	}
}

func runtimeLabels(ws *tenancyv1.Workspace) map[string]string {
	l := Labels(ws)
	for k, v := range RuntimeSelector(ws) {
		l[k] = v
	}
	l["app.kubernetes.io/component"] = "runtime"
	return l
}

// URL is where the tenant's users open the inbox.
func URL(ws *tenancyv1.Workspace, s Settings) string {
	return s.URLScheme + "://" + ws.HostFor(s.BaseDomain)
}

// Image is the runtime image of ws.
func Image(ws *tenancyv1.Workspace, s Settings) string {
	if ws.Spec.RuntimeImage != "" {
		return ws.Spec.RuntimeImage
	}
	return s.RuntimeImage
}
