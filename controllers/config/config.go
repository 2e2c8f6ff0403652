// Package config reads the operator's configuration from flags, each with an
// environment-variable twin, and validates it before the manager starts.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboard-dev/switchboard/controllers/backup/store"
	"sigs.k8s.io/yaml"
)

// Config is the operator's validated configuration.
type Config struct {
	VaultAddress string
	// VaultToken is secret: never log or print it.
	VaultToken string
	// RuntimeVaultAddress is Vault's address as the runtime pods reach it.
	RuntimeVaultAddress string
	VaultKVMount        string
	VaultTransitMount   string
	VaultAuthMount      string
	VaultKubernetesHost string
	VaultKubernetesCA   string
	// VaultReviewerJWTFile holds a token Vault uses to call TokenReview.
	VaultReviewerJWTFile string
	VaultRoleAudience    string
	// VaultEgress is where tenant runtimes may connect to reach Vault.
	VaultEgress         Egress
	DatabaseServersFile string
	DatabaseServers     map[string]DatabaseServer
	RuntimeImage        string
	BaseDomain          string
	URLScheme           string
	IngressClass        string
	IngressNamespace    string
	// RuntimeTrustedProxies are the CIDRs whose X-Forwarded-For tenant
	// runtimes believe, comma-separated and validated.
	RuntimeTrustedProxies string
	ReceiptsNamespace     string
	MetricsBindAddress    string
	HealthProbeAddress    string
	// PprofBindAddress serves net/http/pprof (CPU, heap, mutex and block
	// profiles) when set; empty or "0" serves nothing.
	PprofBindAddress string
	// SyncPeriod is how often every watched object is reconciled again
	// even when nothing changed (controller-runtime's resync).
	SyncPeriod  time.Duration
	LeaderElect bool
	// LeaderElectionNamespace holds the leader Lease; empty means the pod's
	// own namespace as controller-runtime finds it in the cluster.
	LeaderElectionNamespace string
	MaxConcurrent           int
	DependencyRetryAfter    time.Duration
	// BackupStore is the URL of the default backup store (file:// or
	// s3://); a database server may name its own. Empty with no server
	// store means no backups can be taken.
	BackupStore string
	// BackupStoreCredentials is the file or folder of the default store's
	// S3 credentials; empty means the AWS_* environment variables.
	BackupStoreCredentials string
	// MaxConcurrentBackups bounds the dumps, restores and verifications
	// running at once; the rest wait in a queue.
	MaxConcurrentBackups int
	// BackupCompression is pg_dump's -Z level.
	BackupCompression int
	// RetentionInterval is how often each workspace's RetentionPolicy is
	// enforced against its database.
	RetentionInterval time.Duration
	// PeriodicSpread is the window over which the scheduled backups of one
	// slot, and the retention runs and backups missed while the operator
	// was down, are spread, each workspace at its own offset; 0 starts
	// them all at once.
	PeriodicSpread time.Duration
	// PgDump and PgRestore are the binaries backups and restores run: a name
	// looked up in PATH, or a path. dump.CheckTools says at start whether
	// they fit every server.
	PgDump    string
	PgRestore string
}

// DatabaseServer is one PostgreSQL server tenants can live on.
type DatabaseServer struct {
	Name string
	// AdminDSN is secret: never log or print it.
	AdminDSN string
	Host     string
	Port     uint16
	// Egress is where tenant runtimes on this server may connect to reach it.
	Egress Egress
	// BackupStore, if set, keeps the backups of this server's tenants
	// (residency: a region's backups stay in that region); else the
	// operator's --backup-store does.
	BackupStore string
	// BackupStoreCredentials is the file or folder of BackupStore's S3
	// credentials; empty means those of --backup-store-credentials.
	BackupStoreCredentials string
	// Region is a label for where the server runs (e.g. "EU (Frankfurt)"),
	// which its tenants' public privacy pages show as where their data
	// lives; empty shows none.
	Region string
	// CreateStrategy is CREATE DATABASE's STRATEGY for tenant databases:
	// WAL_LOG (PostgreSQL 15's default; empty means it) or FILE_COPY, which
	// costs less for an empty database but forces two checkpoints each
	// (docs/performance.md).
	CreateStrategy string
}

// Egress is a destination tenant runtimes may reach, as their NetworkPolicy
// names it: IP blocks, or the pods of a namespace, on one port. It is
// derived from the address when that is an IP or an in-cluster Service name
// (<service>.<namespace>.svc), and must be configured otherwise.
type Egress struct {
	// CIDRs are IP blocks, e.g. 10.0.3.7/32.
	CIDRs []string `json:"cidrs,omitempty"`
	// Namespace selects the destination's pods by their namespace; with
	// PodLabels, only those pods of it.
	Namespace string            `json:"namespace,omitempty"`
	PodLabels map[string]string `json:"podLabels,omitempty"`
	// Port is the destination pods' port (for a Service, its targetPort).
	Port int32 `json:"port,omitempty"`
}

// deriveEgress fills what the address says into e: an IP literal gives its
// /32 (or /128), <service>.<namespace>.svc[.cluster.local] the namespace.
// what names the address in errors.
func deriveEgress(e Egress, host string, port int32, what string) (Egress, error) {
	if e.Port == 0 {
		e.Port = port
	}
	if e.Port < 1 || e.Port > 65535 {
		return e, fmt.Errorf("%s: egress port %d is not a port", what, e.Port)
	}
	for _, c := range e.CIDRs {
		if _, _, err := net.ParseCIDR(c); err != nil {
			return e, fmt.Errorf("%s: egress CIDR %q does not parse", what, c)
		}
	}
	if len(e.CIDRs) > 0 || e.Namespace != "" {
		return e, nil
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.To4() != nil {
			e.CIDRs = []string{ip.String() + "/32"}
		} else {
			e.CIDRs = []string{ip.String() + "/128"}
		}
		return e, nil
	}
	parts := strings.Split(strings.TrimSuffix(host, ".cluster.local"), ".")
	if len(parts) == 3 && parts[2] == "svc" {
		e.Namespace = parts[1]
		return e, nil
	}
	return e, fmt.Errorf("%s: host %q is a DNS name outside the cluster; say where it is so tenant NetworkPolicies can allow it and nothing else (egress cidrs, or namespace and podLabels)", what, host)
}

// flagDef ties a flag to its environment twin.
type flagDef struct {
	name, env, usage string
}

func envName(flagName string) string {
	return "SWITCHBOARD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load parses args (without the program name) with env as the fallback for
// every flag, and validates the result. Its errors are one line, name the flag
// or variable, and never hold a secret.
func Load(args []string, getenv func(string) string) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("switchboard", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	str := func(p *string, name, def, usage string) {
		if v := getenv(envName(name)); v != "" {
			def = v
		}
		fs.StringVar(p, name, def, usage+" (env "+envName(name)+")")
	}
	str(&c.VaultAddress, "vault-address", getenv("VAULT_ADDR"), "Vault address the operator uses; also VAULT_ADDR")
	var tokenFile string
	str(&tokenFile, "vault-token-file", "", "file holding the Vault token; else VAULT_TOKEN")
	str(&c.RuntimeVaultAddress, "runtime-vault-address", "", "Vault address as tenant runtimes reach it (default --vault-address)")
	str(&c.VaultKVMount, "vault-kv-mount", "switchboard", "KV v2 mount holding tenant subtrees")
	str(&c.VaultTransitMount, "vault-transit-mount", "transit", "transit mount holding tenant backup keys")
	str(&c.VaultAuthMount, "vault-auth-mount", "kubernetes", "Kubernetes auth mount runtimes log in with")
	str(&c.VaultKubernetesHost, "vault-kubernetes-host", "", "if set, configure the Kubernetes auth mount with this API server URL")
	var caFile string
	str(&caFile, "vault-kubernetes-ca-file", "", "CA bundle of --vault-kubernetes-host")
	str(&c.VaultReviewerJWTFile, "vault-kubernetes-reviewer-jwt-file", "", "token Vault uses for TokenReview: that of a ServiceAccount bound only to system:auth-delegator, never the operator's own; re-read when it changes")
	str(&c.VaultRoleAudience, "vault-role-audience", "vault", "audience of the runtime's projected ServiceAccount token")
	var vaultCIDRs, vaultNS, vaultPods, vaultPort string
	str(&vaultCIDRs, "vault-egress-cidrs", "", "comma-separated IP blocks tenant runtimes may reach Vault at (default: derived from --runtime-vault-address)")
	str(&vaultNS, "vault-egress-namespace", "", "namespace of Vault's pods, for tenant NetworkPolicies (default: derived from an in-cluster --runtime-vault-address)")
	str(&vaultPods, "vault-egress-pod-labels", "", "labels of Vault's pods in --vault-egress-namespace, as k=v,k=v")
	str(&vaultPort, "vault-egress-port", "", "Vault pods' port, if the address's port is a Service port that differs")
	str(&c.DatabaseServersFile, "database-servers", "", "YAML file mapping server names to admin DSNs (or to {dsn, egress})")
	str(&c.RuntimeImage, "runtime-image", "", "default runtime image of tenant workspaces")
	str(&c.BaseDomain, "base-domain", "", "tenant hosts default to <workspace>.<base-domain>")
	str(&c.URLScheme, "url-scheme", "https", "scheme of tenant URLs: https, or http for local development")
	str(&c.IngressClass, "ingress-class", "", "IngressClass of tenant Ingresses (empty: the cluster default)")
	str(&c.IngressNamespace, "ingress-namespace", "ingress-nginx", "namespace of the ingress controller, allowed into tenant namespaces")
	str(&c.RuntimeTrustedProxies, "runtime-trusted-proxies", "", "comma-separated CIDRs of the ingress controller's pods, whose X-Forwarded-For tenant runtimes believe (empty: none; the client is the connection's peer)")
	str(&c.ReceiptsNamespace, "receipts-namespace", firstNonEmpty(getenv("POD_NAMESPACE"), "switchboard-system"), "namespace for deletion receipts")
	str(&c.MetricsBindAddress, "metrics-bind-address", ":8080", "address of the metrics endpoint; 0 disables it")
	str(&c.HealthProbeAddress, "health-probe-bind-address", ":8081", "address of the health probes")
	str(&c.PprofBindAddress, "pprof-bind-address", "", "address of a net/http/pprof endpoint with CPU, heap, mutex and block profiles (empty: none); never expose it outside the pod")
	leader := getenv(envName("leader-elect")) == "true"
	fs.BoolVar(&c.LeaderElect, "leader-elect", leader, "enable leader election (env "+envName("leader-elect")+")")
	str(&c.LeaderElectionNamespace, "leader-election-namespace", getenv("POD_NAMESPACE"), "namespace of the leader Lease (default POD_NAMESPACE, else the pod's namespace)")
	maxc := 4
	if v := getenv(envName("max-concurrent-reconciles")); v != "" {
		if _, err := fmt.Sscanf(v, "%d", &maxc); err != nil {
			return nil, fmt.Errorf("%s: want a number", envName("max-concurrent-reconciles"))
		}
	}
	fs.IntVar(&c.MaxConcurrent, "max-concurrent-reconciles", maxc, "workspaces reconciled at once")
	retry := 10 * time.Second
	fs.DurationVar(&c.DependencyRetryAfter, "dependency-retry-after", retry, "longest wait before retrying an unreachable Postgres or Vault")
	str(&c.BackupStore, "backup-store", "", "URL of the default backup store: file:///path or s3://bucket/prefix?endpoint=...&region=... (a database server may name its own)")
	str(&c.BackupStoreCredentials, "backup-store-credentials", "", "file or folder holding the S3 credentials of --backup-store (default: the AWS_* environment variables)")
	str(&c.PgDump, "pg-dump", "pg_dump", "pg_dump binary for backups, of at least every server's major version")
	str(&c.PgRestore, "pg-restore", "pg_restore", "pg_restore binary for restores, of at least pg_dump's major version (17 and later cannot restore into servers before 17)")
	intFlag := func(p *int, name string, def int, usage string) error {
		if v := getenv(envName(name)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%s: want a number", envName(name))
			}
			def = n
		}
		fs.IntVar(p, name, def, usage+" (env "+envName(name)+")")
		return nil
	}
	if err := intFlag(&c.MaxConcurrentBackups, "max-concurrent-backups", 2, "backups, restores and verifications running at once; the rest queue"); err != nil {
		return nil, err
	}
	if err := intFlag(&c.BackupCompression, "backup-compression", 1, "pg_dump compression level of backups, 0 to 9"); err != nil {
		return nil, err
	}
	interval := time.Hour
	if v := getenv(envName("retention-interval")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%s: want a duration such as 1h", envName("retention-interval"))
		}
		interval = d
	}
	syncPeriod := 10 * time.Hour
	if v := getenv(envName("sync-period")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%s: want a duration such as 10h", envName("sync-period"))
		}
		syncPeriod = d
	}
	fs.DurationVar(&c.SyncPeriod, "sync-period", syncPeriod, "how often every workspace is reconciled again although nothing changed (a resync writes nothing when all is in place) (env "+envName("sync-period")+")")
	spread := time.Hour
	if v := getenv(envName("periodic-spread")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%s: want a duration such as 1h, or 0", envName("periodic-spread"))
		}
		spread = d
	}
	fs.DurationVar(&c.PeriodicSpread, "periodic-spread", spread, "each workspace takes a slot's scheduled backup at its own offset in this window after the slot (at most the gap between slots), and backups and retention runs missed while the operator was down at its offset after the start; 0 starts them all at once (env "+envName("periodic-spread")+")")
	fs.DurationVar(&c.RetentionInterval, "retention-interval", interval, "how often each workspace's RetentionPolicy is enforced (each workspace at its own offset) (env "+envName("retention-interval")+")")

	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("invalid flags: %v", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	if c.VaultAddress == "" {
		return nil, errors.New("--vault-address (or VAULT_ADDR) is required")
	}
	if u, err := url.Parse(c.VaultAddress); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--vault-address %q: want http(s)://host:port", c.VaultAddress)
	}
	if c.RuntimeVaultAddress == "" {
		c.RuntimeVaultAddress = c.VaultAddress
	}
	ru, err := url.Parse(c.RuntimeVaultAddress)
	if err != nil || (ru.Scheme != "http" && ru.Scheme != "https") || ru.Hostname() == "" {
		return nil, fmt.Errorf("--runtime-vault-address %q: want http(s)://host:port", c.RuntimeVaultAddress)
	}
	vport := 443
	if ru.Scheme == "http" {
		vport = 80
	}
	if p := ru.Port(); p != "" {
		vport, _ = strconv.Atoi(p)
	}
	if vaultPort != "" {
		n, err := strconv.Atoi(vaultPort)
		if err != nil {
			return nil, fmt.Errorf("--vault-egress-port %q: want a port number", vaultPort)
		}
		c.VaultEgress.Port = int32(n)
	}
	if vaultCIDRs != "" {
		c.VaultEgress.CIDRs = strings.Split(vaultCIDRs, ",")
	}
	c.VaultEgress.Namespace = vaultNS
	if vaultPods != "" {
		c.VaultEgress.PodLabels = map[string]string{}
		for _, kv := range strings.Split(vaultPods, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("--vault-egress-pod-labels %q: want k=v,k=v", vaultPods)
			}
			c.VaultEgress.PodLabels[k] = v
		}
	}
	if c.VaultEgress, err = deriveEgress(c.VaultEgress, ru.Hostname(), int32(vport), "--runtime-vault-address"); err != nil {
		return nil, err
	}
	switch {
	case tokenFile != "":
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--vault-token-file: %v", err)
		}
		c.VaultToken = strings.TrimSpace(string(b))
		if c.VaultToken == "" {
			return nil, fmt.Errorf("--vault-token-file %s is empty", tokenFile)
		}
	case getenv("VAULT_TOKEN") != "":
		c.VaultToken = getenv("VAULT_TOKEN")
	default:
		return nil, errors.New("a Vault token is required: set VAULT_TOKEN or --vault-token-file")
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--vault-kubernetes-ca-file: %v", err)
		}
		c.VaultKubernetesCA = string(b)
	}
	if c.VaultReviewerJWTFile != "" {
		if _, err := os.Stat(c.VaultReviewerJWTFile); err != nil {
			return nil, fmt.Errorf("--vault-kubernetes-reviewer-jwt-file: %v", err)
		}
	}
	if c.DatabaseServersFile == "" {
		return nil, errors.New("--database-servers is required: a YAML file mapping server names to admin DSNs")
	}
	b, err := os.ReadFile(c.DatabaseServersFile)
	if err != nil {
		return nil, fmt.Errorf("--database-servers: %v", err)
	}
	if c.DatabaseServers, err = ParseDatabaseServers(b); err != nil {
		return nil, fmt.Errorf("--database-servers %s: %v", c.DatabaseServersFile, err)
	}
	if c.RuntimeImage == "" {
		return nil, errors.New("--runtime-image is required")
	}
	if strings.ContainsAny(c.RuntimeImage, " \t\n") {
		return nil, fmt.Errorf("--runtime-image %q: must not contain spaces", c.RuntimeImage)
	}
	if c.BaseDomain == "" {
		return nil, errors.New("--base-domain is required: tenant hosts default to <workspace>.<base-domain>")
	}
	if !hostRE.MatchString(c.BaseDomain) {
		return nil, fmt.Errorf("--base-domain %q: want a DNS name such as inbox.example.com", c.BaseDomain)
	}
	if c.URLScheme != "https" && c.URLScheme != "http" {
		return nil, fmt.Errorf("--url-scheme %q: want https or http", c.URLScheme)
	}
	if c.RuntimeTrustedProxies != "" {
		var cidrs []string
		for _, v := range strings.Split(c.RuntimeTrustedProxies, ",") {
			v = strings.TrimSpace(v)
			if _, _, err := net.ParseCIDR(v); err != nil {
				return nil, fmt.Errorf("--runtime-trusted-proxies: %q is not a CIDR", v)
			}
			cidrs = append(cidrs, v)
		}
		c.RuntimeTrustedProxies = strings.Join(cidrs, ",")
	}
	if c.MaxConcurrent < 1 {
		return nil, errors.New("--max-concurrent-reconciles must be at least 1")
	}
	if c.DependencyRetryAfter <= 0 {
		return nil, errors.New("--dependency-retry-after must be positive")
	}
	if c.PgDump == "" {
		return nil, errors.New("--pg-dump must not be empty")
	}
	if c.PgRestore == "" {
		return nil, errors.New("--pg-restore must not be empty")
	}
	if c.PeriodicSpread < 0 {
		return nil, errors.New("--periodic-spread must not be negative")
	}
	if c.RetentionInterval < time.Minute {
		return nil, errors.New("--retention-interval must be at least 1m")
	}
	if c.SyncPeriod < 10*time.Second {
		return nil, errors.New("--sync-period must be at least 10s")
	}
	if c.MaxConcurrentBackups < 1 {
		return nil, errors.New("--max-concurrent-backups must be at least 1")
	}
	if c.BackupCompression < 0 || c.BackupCompression > 9 {
		return nil, errors.New("--backup-compression must be 0 to 9")
	}
	if c.BackupStore != "" {
		if _, err := store.ParseURL(c.BackupStore); err != nil {
			return nil, fmt.Errorf("--backup-store: %v", err)
		}
	}
	if c.BackupStoreCredentials != "" {
		if _, err := os.Stat(c.BackupStoreCredentials); err != nil {
			return nil, fmt.Errorf("--backup-store-credentials: %v", err)
		}
	}
	return c, nil
}

// ParseDatabaseServers reads the --database-servers file: a map of server
// name to its admin DSN, or to {dsn, egress, backupStore, region}. Errors
// never quote a DSN.
func ParseDatabaseServers(b []byte) (map[string]DatabaseServer, error) {
	const want = "want a YAML map of server name to admin DSN (name: postgres://user:password@host:5432/postgres), or to {dsn: ..., egress: {cidrs: [...]}, backupStore: {url: ..., credentials: /path}, region: ...}"
	var raw map[string]json.RawMessage
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, errors.New(want)
	}
	if len(raw) == 0 {
		return nil, errors.New("no servers listed")
	}
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make(map[string]DatabaseServer, len(raw))
	for _, n := range names {
		if !labelRE.MatchString(n) || len(n) > 63 {
			return nil, fmt.Errorf("server name %q: want a DNS label", n)
		}
		var entry struct {
			DSN         string `json:"dsn"`
			Egress      Egress `json:"egress"`
			BackupStore struct {
				URL         string `json:"url"`
				Credentials string `json:"credentials"`
			} `json:"backupStore"`
			Region         string `json:"region"`
			CreateStrategy string `json:"createStrategy"`
		}
		if err := json.Unmarshal(raw[n], &entry.DSN); err != nil {
			dec := json.NewDecoder(bytes.NewReader(raw[n]))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&entry); err != nil {
				return nil, fmt.Errorf("server %s: %s", n, want)
			}
		}
		pc, err := pgconn.ParseConfig(entry.DSN)
		if err != nil || entry.DSN == "" {
			return nil, fmt.Errorf("server %s: the DSN does not parse", n)
		}
		egress, err := deriveEgress(entry.Egress, pc.Host, int32(pc.Port), "server "+n)
		if err != nil {
			return nil, err
		}
		if entry.BackupStore.URL != "" {
			if _, err := store.ParseURL(entry.BackupStore.URL); err != nil {
				return nil, fmt.Errorf("server %s: backupStore.url: %v", n, err)
			}
		} else if entry.BackupStore.Credentials != "" {
			return nil, fmt.Errorf("server %s: backupStore.credentials without backupStore.url", n)
		}
		if r := entry.Region; len(r) > 64 || r != strings.TrimSpace(r) || strings.IndexFunc(r, unicode.IsControl) >= 0 {
			return nil, fmt.Errorf("server %s: region: want a label of at most 64 characters, such as \"EU (Frankfurt)\"", n)
		}
		switch entry.CreateStrategy {
		case "", "WAL_LOG", "FILE_COPY":
		default:
			return nil, fmt.Errorf("server %s: createStrategy: want WAL_LOG or FILE_COPY", n)
		}
		out[n] = DatabaseServer{Name: n, AdminDSN: entry.DSN, Host: pc.Host, Port: pc.Port, Egress: egress,
			BackupStore: entry.BackupStore.URL, BackupStoreCredentials: entry.BackupStore.Credentials, Region: entry.Region,
			CreateStrategy: entry.CreateStrategy}
	}
	return out, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
