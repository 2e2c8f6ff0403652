package config

import (
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	base := map[string]string{
		"SWITCHBOARD_WORKSPACE": "acme", "SWITCHBOARD_PUBLIC_URL": "https://acme.example.com", "VAULT_ADDR": "http://127.0.0.1:8200",
		"SWITCHBOARD_VAULT_PATH": "workspaces/acme", "SWITCHBOARD_VAULT_TOKEN_PATH": "/t", "SWITCHBOARD_VAULT_AUTH_ROLE": "ws-acme",
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"valid", base, ""},
		{"dev token instead of kubernetes auth", with("SWITCHBOARD_VAULT_TOKEN_PATH", "", "VAULT_TOKEN", "root"), ""},
		{"missing workspace and vault", with("SWITCHBOARD_WORKSPACE", "", "VAULT_ADDR", ""), "missing environment: SWITCHBOARD_WORKSPACE, VAULT_ADDR"},
		{"no way to log in", with("SWITCHBOARD_VAULT_TOKEN_PATH", ""), "no way to log into Vault"},
		{"bad public url", with("SWITCHBOARD_PUBLIC_URL", "acme.example.com"), "SWITCHBOARD_PUBLIC_URL"},
		{"bad session ttl", with("SWITCHBOARD_SESSION_TTL", "forever"), "SWITCHBOARD_SESSION_TTL"},
		{"webhooks may reach private networks", with("SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true"), ""},
		{"bad webhook network switch", with("SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "yes"), "SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS"},
		{"bad backups switch", with("SWITCHBOARD_BACKUPS", "no"), "SWITCHBOARD_BACKUPS"},
		{"bad shred switch", with("SWITCHBOARD_BACKUP_SHRED_ON_DELETE", "1"), "SWITCHBOARD_BACKUP_SHRED_ON_DELETE"},
		{"trusted proxies", with("SWITCHBOARD_TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8,192.0.2.7"), ""},
		{"trusted proxy that is no CIDR", with("SWITCHBOARD_TRUSTED_PROXIES", "10.0.0.0/8,ingress-nginx"), "SWITCHBOARD_TRUSTED_PROXIES"},
		{"trusted proxy with a bad mask", with("SWITCHBOARD_TRUSTED_PROXIES", "10.0.0.0/33"), "SWITCHBOARD_TRUSTED_PROXIES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(func(k string) string { return tt.env[k] })
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.ListenAddr != ":8080" || !c.SecureCookies() {
					t.Errorf("defaults: %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line with %q", err, tt.wantErr)
			}
		})
	}
}

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"", "", ""},
		{" , ", "", ""},
		{"10.0.0.0/8", "10.0.0.0/8", ""},
		{"10.1.2.3/8", "10.0.0.0/8", ""}, // host bits are dropped
		{"192.0.2.7", "192.0.2.7/32", ""},
		{"2001:db8::1", "2001:db8::1/128", ""},
		{"10.0.0.0/8,fd00::/8", "10.0.0.0/8 fd00::/8", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"::ffff:0:0/64", "", "IPv4-mapped"},
		{"10.0.0.0/33", "", "not a CIDR"},
		{"fe80::1%eth0", "", "not a CIDR"},
		{"*", "", "not a CIDR"},
		{"10.0.0.0/8;192.168.0.0/16", "", "not a CIDR"},
	}
	for _, tt := range tests {
		got, err := ParsePrefixes(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParsePrefixes(%q): %v, want an error with %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if err != nil || strings.Join(s, " ") != tt.want {
			t.Errorf("ParsePrefixes(%q) = %v, %v; want %s", tt.in, s, err, tt.want)
		}
	}
}
