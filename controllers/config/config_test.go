package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	servers := filepath.Join(dir, "servers.yaml")
	if err := os.WriteFile(servers, []byte("eu-1:\n  dsn: postgres://admin:s3cret-pw@db.eu:5432/postgres?sslmode=require\n  egress: {cidrs: [10.0.3.7/32]}\n  region: EU (Frankfurt)\nus-1: host=pg.db.svc.cluster.local port=6432 user=admin password=s3cret-pw dbname=postgres\nlo-1: postgres://admin:s3cret-pw@127.0.0.1:5433/postgres\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badDSN := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badDSN, []byte("eu-1: \"postgres://admin:s3cret-pw@db.eu:notaport/x\"\n"), 0o600)
	badName := filepath.Join(dir, "badname.yaml")
	os.WriteFile(badName, []byte("EU_1: postgres://a@b/c\n"), 0o600)
	notMap := filepath.Join(dir, "list.yaml")
	os.WriteFile(notMap, []byte("- postgres://a@b/c\n"), 0o600)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("hvs.file-token\n"), 0o600)
	outside := filepath.Join(dir, "outside.yaml")
	os.WriteFile(outside, []byte("eu-1: postgres://admin:s3cret-pw@db.example.com:5432/postgres\n"), 0o600)
	badCIDR := filepath.Join(dir, "badcidr.yaml")
	os.WriteFile(badCIDR, []byte("eu-1: {dsn: 'postgres://admin:s3cret-pw@db.example.com/postgres', egress: {cidrs: [10.0.0.300/32]}}\n"), 0o600)
	unknownKey := filepath.Join(dir, "unknownkey.yaml")
	os.WriteFile(unknownKey, []byte("eu-1: {dsn: 'postgres://admin:s3cret-pw@10.0.0.1/postgres', egres: {}}\n"), 0o600)
	badRegion := filepath.Join(dir, "badregion.yaml")
	os.WriteFile(badRegion, []byte("eu-1: {dsn: 'postgres://admin:s3cret-pw@10.0.0.1/postgres', region: \"EU\\nFrankfurt\"}\n"), 0o600)
	badStrategy := filepath.Join(dir, "badstrategy.yaml")
	os.WriteFile(badStrategy, []byte("eu-1: {dsn: 'postgres://admin:s3cret-pw@10.0.0.1/postgres', createStrategy: 'FILE_COPY; DROP'}\n"), 0o600)
	fileCopy := filepath.Join(dir, "filecopy.yaml")
	os.WriteFile(fileCopy, []byte("eu-1: {dsn: 'postgres://admin:s3cret-pw@10.0.0.1/postgres', createStrategy: FILE_COPY}\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)

	base := []string{"--vault-address=https://vault.vault.svc:8200", "--database-servers=" + servers, "--runtime-image=reg/rt:1", "--base-domain=inbox.example.com"}
	env := map[string]string{"VAULT_TOKEN": "hvs.env-token"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(*testing.T, *Config)
	}{
		{name: "valid", args: base, env: env, check: func(t *testing.T, c *Config) {
			if c.VaultToken != "hvs.env-token" || c.RuntimeVaultAddress != "https://vault.vault.svc:8200" || len(c.DatabaseServers) != 3 {
				t.Errorf("config = %+v", c)
			}
			if s := c.DatabaseServers["us-1"]; s.Host != "pg.db.svc.cluster.local" || s.Port != 6432 || s.Egress.Namespace != "db" || s.Egress.Port != 6432 {
				t.Errorf("us-1 = %+v", s)
			}
			if s := c.DatabaseServers["eu-1"]; s.Host != "db.eu" || !reflect.DeepEqual(s.Egress, Egress{CIDRs: []string{"10.0.3.7/32"}, Port: 5432}) {
				t.Errorf("eu-1 = %+v", s.Egress)
			}
			if r1, r2 := c.DatabaseServers["eu-1"].Region, c.DatabaseServers["us-1"].Region; r1 != "EU (Frankfurt)" || r2 != "" {
				t.Errorf("regions: eu-1 %q, us-1 %q; want EU (Frankfurt) and none", r1, r2)
			}
			if s := c.DatabaseServers["lo-1"]; !reflect.DeepEqual(s.Egress, Egress{CIDRs: []string{"127.0.0.1/32"}, Port: 5433}) {
				t.Errorf("lo-1 = %+v", s.Egress)
			}
			if !reflect.DeepEqual(c.VaultEgress, Egress{Namespace: "vault", Port: 8200}) {
				t.Errorf("vault egress = %+v", c.VaultEgress)
			}
			if c.MetricsBindAddress != ":8080" || c.HealthProbeAddress != ":8081" || c.URLScheme != "https" {
				t.Errorf("defaults = %+v", c)
			}
			if c.PgDump != "pg_dump" || c.PgRestore != "pg_restore" {
				t.Errorf("pg_dump %q, pg_restore %q: want the names looked up in PATH", c.PgDump, c.PgRestore)
			}
		}},
		{name: "env twins", args: nil, env: map[string]string{
			"VAULT_ADDR": "http://127.0.0.1:8200", "SWITCHBOARD_VAULT_TOKEN_FILE": tokenFile,
			"SWITCHBOARD_DATABASE_SERVERS": servers, "SWITCHBOARD_RUNTIME_IMAGE": "reg/rt:2",
			"SWITCHBOARD_BASE_DOMAIN": "switchboard.localhost", "SWITCHBOARD_INGRESS_CLASS": "nginx",
			"SWITCHBOARD_METRICS_BIND_ADDRESS": "0", "SWITCHBOARD_URL_SCHEME": "http",
			"SWITCHBOARD_PG_DUMP": "/usr/lib/postgresql/16/bin/pg_dump", "SWITCHBOARD_PG_RESTORE": "/usr/lib/postgresql/16/bin/pg_restore",
		}, check: func(t *testing.T, c *Config) {
			if c.VaultToken != "hvs.file-token" || c.RuntimeImage != "reg/rt:2" || c.IngressClass != "nginx" || c.MetricsBindAddress != "0" || c.URLScheme != "http" {
				t.Errorf("config = %+v", c)
			}
			if c.PgDump != "/usr/lib/postgresql/16/bin/pg_dump" || c.PgRestore != "/usr/lib/postgresql/16/bin/pg_restore" {
				t.Errorf("pg_dump %q, pg_restore %q", c.PgDump, c.PgRestore)
			}
		}},
		{name: "flag beats env", args: append(base, "--runtime-image=reg/rt:flag"), env: map[string]string{"VAULT_TOKEN": "t", "SWITCHBOARD_RUNTIME_IMAGE": "reg/rt:env"},
			check: func(t *testing.T, c *Config) {
				if c.RuntimeImage != "reg/rt:flag" {
					t.Errorf("runtime image = %s", c.RuntimeImage)
				}
			}},
		{name: "pg tools from flags", args: append(base, "--pg-dump=/opt/pg17/pg_dump", "--pg-restore=/opt/pg17/pg_restore"),
			env: map[string]string{"VAULT_TOKEN": "t", "SWITCHBOARD_PG_DUMP": "/env/pg_dump"},
			check: func(t *testing.T, c *Config) {
				if c.PgDump != "/opt/pg17/pg_dump" || c.PgRestore != "/opt/pg17/pg_restore" {
					t.Errorf("pg_dump %q, pg_restore %q", c.PgDump, c.PgRestore)
				}
			}},
		{name: "empty pg_dump", args: append(base, "--pg-dump="), env: env, wantErr: "--pg-dump must not be empty"},
		{name: "empty pg_restore", args: append(base, "--pg-restore="), env: env, wantErr: "--pg-restore must not be empty"},
		{name: "no vault address", args: base[1:], env: env, wantErr: "--vault-address"},
		{name: "bad vault address", args: append(base, "--vault-address=vault:8200"), env: env, wantErr: "--vault-address"},
		{name: "no token", args: base, env: map[string]string{}, wantErr: "VAULT_TOKEN or --vault-token-file"},
		{name: "empty token file", args: append(base, "--vault-token-file="+empty), env: map[string]string{}, wantErr: "is empty"},
		{name: "no servers", args: []string{base[0], base[2], base[3]}, env: env, wantErr: "--database-servers is required"},
		{name: "missing servers file", args: append(base, "--database-servers=/nope.yaml"), env: env, wantErr: "--database-servers"},
		{name: "servers not a map", args: append(base, "--database-servers="+notMap), env: env, wantErr: "want a YAML map"},
		{name: "server name not a label", args: append(base, "--database-servers="+badName), env: env, wantErr: "EU_1"},
		{name: "bad DSN", args: append(base, "--database-servers="+badDSN), env: env, wantErr: "server eu-1: the DSN does not parse"},
		{name: "no runtime image", args: []string{base[0], base[1], base[3]}, env: env, wantErr: "--runtime-image"},
		{name: "no base domain", args: base[:3], env: env, wantErr: "--base-domain"},
		{name: "bad base domain", args: append(base, "--base-domain=Inbox_Example"), env: env, wantErr: "--base-domain"},
		{name: "bad scheme", args: append(base, "--url-scheme=ftp"), env: env, wantErr: "--url-scheme"},
		{name: "unknown flag", args: append(base, "--colour=blue"), env: env, wantErr: "colour"},
		{name: "vault egress from flags", args: append(base, "--runtime-vault-address=https://vault.example.com", "--vault-egress-cidrs=203.0.113.0/28,198.51.100.7/32", "--vault-egress-port=8443"), env: env,
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.VaultEgress, Egress{CIDRs: []string{"203.0.113.0/28", "198.51.100.7/32"}, Port: 8443}) {
					t.Errorf("vault egress = %+v", c.VaultEgress)
				}
			}},
		{name: "vault pods by label", args: append(base, "--vault-egress-namespace=sec", "--vault-egress-pod-labels=app=vault,tier=server"), env: env,
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.VaultEgress, Egress{Namespace: "sec", PodLabels: map[string]string{"app": "vault", "tier": "server"}, Port: 8200}) {
					t.Errorf("vault egress = %+v", c.VaultEgress)
				}
			}},
		{name: "vault outside the cluster without egress", args: append(base, "--runtime-vault-address=https://vault.example.com"), env: env, wantErr: `--runtime-vault-address: host "vault.example.com" is a DNS name outside the cluster`},
		{name: "bad vault egress labels", args: append(base, "--vault-egress-pod-labels=app"), env: env, wantErr: "--vault-egress-pod-labels"},
		{name: "database outside the cluster without egress", args: append(base, "--database-servers="+outside), env: env, wantErr: `server eu-1: host "db.example.com" is a DNS name outside the cluster`},
		{name: "bad egress CIDR", args: append(base, "--database-servers="+badCIDR), env: env, wantErr: `server eu-1: egress CIDR "10.0.0.300/32" does not parse`},
		{name: "bad create strategy", args: append(base, "--database-servers="+badStrategy), env: env, wantErr: "server eu-1: createStrategy: want WAL_LOG or FILE_COPY"},
		{name: "FILE_COPY", args: append(base, "--database-servers="+fileCopy), env: env, check: func(t *testing.T, c *Config) {
			if s := c.DatabaseServers["eu-1"].CreateStrategy; s != "FILE_COPY" {
				t.Errorf("createStrategy = %q", s)
			}
		}},
		{name: "bad region", args: append(base, "--database-servers="+badRegion), env: env, wantErr: "server eu-1: region: want a label"},
		{name: "unknown server key", args: append(base, "--database-servers="+unknownKey), env: env, wantErr: "server eu-1: want a YAML map"},
		{name: "trusted proxies", args: append(base, "--runtime-trusted-proxies=10.0.0.0/8, fd00::/8"), env: env,
			check: func(t *testing.T, c *Config) {
				if c.RuntimeTrustedProxies != "10.0.0.0/8,fd00::/8" {
					t.Errorf("trusted proxies = %q", c.RuntimeTrustedProxies)
				}
			}},
		{name: "bad trusted proxy", args: append(base, "--runtime-trusted-proxies=10.0.0.0/8,ingress"), env: env, wantErr: `--runtime-trusted-proxies: "ingress" is not a CIDR`},
		{name: "missing reviewer token", args: append(base, "--vault-kubernetes-reviewer-jwt-file=/nope"), env: env, wantErr: "reviewer-jwt-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret-pw") || strings.Contains(err.Error(), "\n") {
					t.Errorf("the error must be one line without secrets: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
