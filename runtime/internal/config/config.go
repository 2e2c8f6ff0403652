// Package config reads the runtime's configuration from the environment. It
// holds no secret: the runtime reads those from Vault.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Config is the runtime's configuration.
type Config struct {
	Workspace  string
	Plan       string
	PublicURL  *url.URL
	ListenAddr string

	VaultAddr      string
	VaultAuthMount string
	VaultAuthRole  string
	VaultKVMount   string
	VaultPath      string
	// VaultTokenPath holds the projected ServiceAccount token (production).
	VaultTokenPath string
	// VaultToken is used instead of Kubernetes auth in local development.
	VaultToken string

	SessionTTL      time.Duration
	ShutdownTimeout time.Duration
	// WebhookAllowPrivateNetworks lets webhooks reach loopback and private
	// addresses: for local development only.
	WebhookAllowPrivateNetworks bool
}

// Load reads the configuration. Its error is one line naming what is missing.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{
		Workspace:      getenv("SWITCHBOARD_WORKSPACE"),
		Plan:           or(getenv("SWITCHBOARD_PLAN"), "starter"),
		ListenAddr:     or(getenv("SWITCHBOARD_LISTEN_ADDR"), ":8080"),
		VaultAddr:      getenv("VAULT_ADDR"),
		VaultAuthMount: or(getenv("SWITCHBOARD_VAULT_AUTH_MOUNT"), "kubernetes"),
		VaultAuthRole:  getenv("SWITCHBOARD_VAULT_AUTH_ROLE"),
		VaultKVMount:   or(getenv("SWITCHBOARD_VAULT_KV_MOUNT"), "switchboard"),
		VaultPath:      getenv("SWITCHBOARD_VAULT_PATH"),
		VaultTokenPath: getenv("SWITCHBOARD_VAULT_TOKEN_PATH"),
		VaultToken:     getenv("VAULT_TOKEN"),
	}
	var missing []string
	for name, v := range map[string]string{
		"SWITCHBOARD_WORKSPACE": c.Workspace, "SWITCHBOARD_PUBLIC_URL": getenv("SWITCHBOARD_PUBLIC_URL"),
		"VAULT_ADDR": c.VaultAddr, "SWITCHBOARD_VAULT_PATH": c.VaultPath,
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
	u, err := url.Parse(getenv("SWITCHBOARD_PUBLIC_URL"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("SWITCHBOARD_PUBLIC_URL %q: want http(s)://host", getenv("SWITCHBOARD_PUBLIC_URL"))
	}
	c.PublicURL = u
	if _, err := url.Parse(c.VaultAddr); err != nil || !strings.HasPrefix(c.VaultAddr, "http") {
		return nil, fmt.Errorf("VAULT_ADDR %q: want http(s)://host:port", c.VaultAddr)
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
	return c, nil
}

// SecureCookies says whether cookies get the Secure flag: when served over TLS.
func (c *Config) SecureCookies() bool { return c.PublicURL.Scheme == "https" }

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
