// Package config reads the runtime's configuration from the environment. It
// holds no secret: the runtime reads those from Vault.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// Config is the runtime's configuration.
type Config struct {
	Workspace string
	// DisplayName is the workspace's display name; empty shows Workspace.
	DisplayName string
	Plan        string
	PublicURL   *url.URL
	ListenAddr  string

	VaultAddr      string
	VaultAuthMount string
	VaultAuthRole  string
	VaultKVMount   string
	VaultPath      string
	// VaultTokenPath holds the projected ServiceAccount token (production).
	VaultTokenPath string
	// VaultToken is used instead of Kubernetes auth in local development.
	VaultToken string
	// ErasureLedger is the prefix of the workspace's erasure ledger in
	// VaultKVMount (runtime/privacy); empty when the operator set none.
	ErasureLedger string
	// RetentionPolicy, Retention and DSRDeadline are the workspace's
	// retention settings as the operator passes them (see runtime/contract):
	// shown to admins on the settings page. The operator enforces them.
	RetentionPolicy string
	Retention       string
	DSRDeadline     string
	// BackupRetainFor, BackupAfterDeletion, BackupShredOnDelete and
	// CredentialsAfterDisconnect are the rest of the policy's retention
	// (see runtime/contract), shown on the public privacy page; unset, they
	// are the operator's built-in defaults.
	BackupRetainFor     string
	BackupAfterDeletion string
	// NoBackups is set when the operator says no backup is taken (no
	// backup store for the database server).
	NoBackups                  bool
	BackupShredOnDelete        bool
	CredentialsAfterDisconnect string
	// Region is the database server's region label, shown on the public
	// privacy page as where the data lives; empty when the operator set none.
	Region string

	SessionTTL      time.Duration
	ShutdownTimeout time.Duration
	// WebhookAllowPrivateNetworks lets webhooks reach loopback and private
	// addresses: for local development only.
	WebhookAllowPrivateNetworks bool
	// TrustedProxies are the proxies in front of the runtime whose
	// X-Forwarded-For entries are believed (SWITCHBOARD_TRUSTED_PROXIES):
	// the client address is the first hop, read from the right, that is not
	// one of them. Empty, the default, believes no header and takes the
	// connection's peer. Sign-in rate limits are per client address, so a
	// proxy left out makes every user behind it share one limit, and an
	// address put in that a client can reach lets clients pick their own.
	TrustedProxies []netip.Prefix
}

// Load reads the configuration. Its error is one line naming what is missing.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{
		Workspace:      getenv(contract.EnvWorkspace),
		DisplayName:    getenv(contract.EnvDisplayName),
		Plan:           or(getenv(contract.EnvPlan), "starter"),
		ListenAddr:     or(getenv(contract.EnvListenAddr), ":8080"),
		VaultAddr:      getenv(contract.EnvVaultAddr),
		VaultAuthMount: or(getenv(contract.EnvVaultAuthMount), "kubernetes"),
		VaultAuthRole:  getenv(contract.EnvVaultAuthRole),
		VaultKVMount:   or(getenv(contract.EnvVaultKVMount), "switchboard"),
		VaultPath:      getenv(contract.EnvVaultPath),
		VaultTokenPath: getenv(contract.EnvVaultTokenPath),
		VaultToken:     getenv(contract.EnvVaultToken),
		ErasureLedger:  getenv(contract.EnvErasureLedger),

		RetentionPolicy: getenv(contract.EnvRetentionPolicy),
		Retention:       getenv(contract.EnvRetention),
		DSRDeadline:     or(getenv(contract.EnvDSRDeadline), "30d"),

		BackupRetainFor:            or(getenv(contract.EnvBackupRetainFor), "30d"),
		BackupAfterDeletion:        or(getenv(contract.EnvBackupAfterDeletion), "90d"),
		CredentialsAfterDisconnect: or(getenv(contract.EnvCredentialsAfterDisconnect), "0d"),
		Region:                     getenv(contract.EnvRegion),
	}
	var missing []string
	for name, v := range map[string]string{
		contract.EnvWorkspace: c.Workspace, contract.EnvPublicURL: getenv(contract.EnvPublicURL),
		contract.EnvVaultAddr: c.VaultAddr, contract.EnvVaultPath: c.VaultPath,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("missing environment: %s", strings.Join(missing, ", "))
	}
	if c.VaultToken == "" && (c.VaultTokenPath == "" || c.VaultAuthRole == "") {
		return nil, errors.New("no way to log into Vault: set SWITCHBOARD_VAULT_TOKEN_PATH and SWITCHBOARD_VAULT_AUTH_ROLE (Kubernetes auth), or VAULT_TOKEN (local development)")
	}
	u, err := url.Parse(getenv(contract.EnvPublicURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf(contract.EnvPublicURL+" %q: want http(s)://host", getenv(contract.EnvPublicURL))
	}
	c.PublicURL = u
	if _, err := url.Parse(c.VaultAddr); err != nil || !strings.HasPrefix(c.VaultAddr, "http") {
		return nil, fmt.Errorf(contract.EnvVaultAddr+" %q: want http(s)://host:port", c.VaultAddr)
	}
	c.SessionTTL, err = duration(getenv, "SWITCHBOARD_SESSION_TTL", 12*time.Hour)
	if err != nil {
		return nil, err
	}
	c.ShutdownTimeout, err = duration(getenv, "SWITCHBOARD_SHUTDOWN_TIMEOUT", 20*time.Second)
	if err != nil {
		return nil, err
	}
	switch v := getenv("SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS"); v {
	case "", "false":
	case "true":
		c.WebhookAllowPrivateNetworks = true
	default:
		return nil, fmt.Errorf("SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS %q: want true or false", v)
	}
	switch v := getenv(contract.EnvBackups); v {
	case "", "true":
	case "false":
		c.NoBackups = true
	default:
		return nil, fmt.Errorf(contract.EnvBackups+" %q: want true or false", v)
	}
	switch v := getenv(contract.EnvBackupShredOnDelete); v {
	case "", "false":
	case "true":
		c.BackupShredOnDelete = true
	default:
		return nil, fmt.Errorf(contract.EnvBackupShredOnDelete+" %q: want true or false", v)
	}
	if c.TrustedProxies, err = ParsePrefixes(getenv(contract.EnvTrustedProxies)); err != nil {
		return nil, fmt.Errorf(contract.EnvTrustedProxies+": %w", err)
	}
	return c, nil
}

// SecureCookies says whether cookies get the Secure flag: when served over TLS.
func (c *Config) SecureCookies() bool { return c.PublicURL.Scheme == "https" }

// ParsePrefixes reads comma-separated CIDRs, such as "10.0.0.0/8,
// fd00::/8". A bare address is a prefix of one address; an IPv4-mapped IPv6
// prefix is read as the IPv4 prefix it maps, which is how peers are compared.
func ParsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or fd00::/8", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return nil, fmt.Errorf("%q: an IPv4-mapped prefix needs at least 96 bits; write the IPv4 CIDR", f)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func duration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q: want a positive duration such as 12h", name, v)
	}
	return d, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
