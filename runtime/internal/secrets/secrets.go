// Package secrets logs the runtime into Vault and reads its subtree: the
// database DSN, the bootstrap owner and channel credentials. It keeps the
// token renewed, and logs in again when renewal is no longer possible.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

// Vault is the runtime's view of its Vault subtree.
type Vault struct {
	client    *vaultapi.Client
	kvMount   string
	path      string
	authMount string
	role      string
	tokenPath string
	static    bool // a VAULT_TOKEN from the environment, not renewed by login
	log       *slog.Logger

	mu        sync.Mutex
	expiry    time.Time
	renewable bool // a static token with a TTL
}

// Options configure Login.
type Options struct {
	Addr, KVMount, Path        string
	AuthMount, Role, TokenPath string
	Token                      string
	Logger                     *slog.Logger
}

// Login connects to Vault: with a static token if one is given (local
// development), otherwise with the Kubernetes ServiceAccount token at TokenPath.
func Login(ctx context.Context, o Options) (*Vault, error) {
	cfg := vaultapi.DefaultConfig()
	cfg.Address = o.Addr
	cfg.Timeout = 10 * time.Second
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	c.ClearToken()
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	v := &Vault{client: c, kvMount: o.KVMount, path: strings.Trim(o.Path, "/"), authMount: o.AuthMount,
		role: o.Role, tokenPath: o.TokenPath, static: o.Token != "", log: o.Logger}
	if v.static {
		c.SetToken(o.Token)
		// A static token that can be renewed is kept alive too; only a
		// Kubernetes login can be repeated once it expires.
		self, err := c.Auth().Token().LookupSelfWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("vault token: %w", redact(err))
		}
		if ttl, err := self.TokenTTL(); err == nil && ttl > 0 {
			if renewable, _ := self.TokenIsRenewable(); renewable {
				v.mu.Lock()
				v.expiry = time.Now().Add(ttl)
				v.renewable = true
				v.mu.Unlock()
			}
		}
		return v, nil
	}
	if err := v.login(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *Vault) login(ctx context.Context) error {
	jwt, err := os.ReadFile(v.tokenPath)
	if err != nil {
		return fmt.Errorf("reading the ServiceAccount token: %w", err)
	}
	s, err := v.client.Logical().WriteWithContext(ctx, "auth/"+v.authMount+"/login", map[string]any{
		"role": v.role, "jwt": strings.TrimSpace(string(jwt)),
	})
	if err != nil {
		return fmt.Errorf("vault login as role %s: %w", v.role, redact(err))
	}
	if s == nil || s.Auth == nil {
		return errors.New("vault login returned no token")
	}
	v.client.SetToken(s.Auth.ClientToken)
	v.mu.Lock()
	v.expiry = time.Now().Add(time.Duration(s.Auth.LeaseDuration) * time.Second)
	v.mu.Unlock()
	return nil
}

// redact keeps Vault's error text but never a request body.
func redact(err error) error {
	var re *vaultapi.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("vault answered %d: %s", re.StatusCode, strings.Join(re.Errors, "; "))
	}
	return err
}

// KeepAlive renews the token at two thirds of its lifetime, and logs in again
// when it cannot be renewed (max TTL reached, or Vault restarted). It returns
// when ctx ends.
func (v *Vault) KeepAlive(ctx context.Context) {
	v.mu.Lock()
	renewable := v.renewable
	v.mu.Unlock()
	if v.static && !renewable {
		return
	}
	for {
		v.mu.Lock()
		wait := time.Until(v.expiry) * 2 / 3
		v.mu.Unlock()
		if wait < time.Second {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		s, err := v.client.Auth().Token().RenewSelfWithContext(ctx, 0)
		if err == nil && s != nil && s.Auth != nil && s.Auth.LeaseDuration > 0 {
			v.mu.Lock()
			v.expiry = time.Now().Add(time.Duration(s.Auth.LeaseDuration) * time.Second)
			v.mu.Unlock()
			continue
		}
		if v.static {
			v.log.Warn("renewing the vault token failed; retrying", "error", redact(err).Error())
			v.mu.Lock()
			v.expiry = time.Now().Add(15 * time.Second)
			v.mu.Unlock()
			continue
		}
		if err := v.login(ctx); err != nil {
			v.log.Warn("vault token renewal and login failed; retrying", "error", err.Error())
			v.mu.Lock()
			v.expiry = time.Now().Add(15 * time.Second)
			v.mu.Unlock()
		}
	}
}

// Read reads the latest version of an entry of the subtree, such as
// "database" or "integrations/sms". It returns the data and its version.
func (v *Vault) Read(ctx context.Context, name string) (map[string]string, int, error) {
	s, err := v.client.KVv2(v.kvMount).Get(ctx, v.path+"/"+name)
	if err != nil {
		if errors.Is(err, vaultapi.ErrSecretNotFound) {
			return nil, 0, ErrNotFound
		}
		return nil, 0, fmt.Errorf("reading %s from vault: %w", name, redact(err))
	}
	if s == nil || s.Data == nil || s.VersionMetadata == nil {
		return nil, 0, ErrNotFound
	}
	out := make(map[string]string, len(s.Data))
	for k, val := range s.Data {
		if str, ok := val.(string); ok {
			out[k] = str
		}
	}
	return out, s.VersionMetadata.Version, nil
}

// ErrNotFound is returned for an entry that does not exist.
var ErrNotFound = errors.New("not in vault")

// Ledger is the workspace's erasure ledger at prefix (the operator's
// contract.LedgerPrefix, outside the subtree), read and written with this
// login's token, which the workspace's policy allows there; nil if prefix is
// empty (no ledger configured).
func (v *Vault) Ledger(prefix string) *privacy.Ledger {
	if prefix == "" {
		return nil
	}
	return privacy.NewLedger(v.client, v.kvMount, prefix)
}

// Ping checks that Vault answers and the token is valid.
func (v *Vault) Ping(ctx context.Context) error {
	_, err := v.client.Auth().Token().LookupSelfWithContext(ctx)
	return redact(err)
}

// ReadVersion reads one version of an entry of the subtree. A destroyed or
// deleted version is ErrNotFound.
func (v *Vault) ReadVersion(ctx context.Context, name string, version int) (map[string]string, error) {
	s, err := v.client.KVv2(v.kvMount).GetVersion(ctx, v.path+"/"+name, version)
	if err != nil {
		if errors.Is(err, vaultapi.ErrSecretNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("reading %s from vault: %w", name, redact(err))
	}
	if s == nil || s.Data == nil || s.VersionMetadata == nil || s.VersionMetadata.Destroyed {
		return nil, ErrNotFound
	}
	out := make(map[string]string, len(s.Data))
	for k, val := range s.Data {
		if str, ok := val.(string); ok {
			out[k] = str
		}
	}
	return out, nil
}

// ErrConflict is a check-and-set write that lost: the entry changed since
// it was read.
var ErrConflict = errors.New("vault entry changed concurrently")

// Write writes an entry of the subtree the runtime's policy lets it write
// (its tokens and health entries). cas is the version it must still be at
// (0: it must not exist); a negative cas writes unconditionally. It returns
// the new version.
func (v *Vault) Write(ctx context.Context, name string, data map[string]string, cas int) (int, error) {
	in := make(map[string]any, len(data))
	for k, val := range data {
		in[k] = val
	}
	var opts []vaultapi.KVOption
	if cas >= 0 {
		opts = append(opts, vaultapi.WithCheckAndSet(cas))
	}
	s, err := v.client.KVv2(v.kvMount).Put(ctx, v.path+"/"+name, in, opts...)
	if err != nil {
		var re *vaultapi.ResponseError
		if errors.As(err, &re) && re.StatusCode == 400 && strings.Contains(strings.Join(re.Errors, " "), "check-and-set") {
			return 0, ErrConflict
		}
		return 0, fmt.Errorf("writing %s to vault: %w", name, redact(err))
	}
	if s == nil || s.VersionMetadata == nil {
		return 0, errors.New("vault returned no version for " + name)
	}
	return s.VersionMetadata.Version, nil
}
