// Package vault provisions tenant subtrees, policies, Kubernetes-auth roles and
// transit keys in Vault, and stores Integration credentials. Every Ensure
// method reads first and writes only what differs.
package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// Unreachable wraps errors that mean Vault did not answer.
type Unreachable struct{ Err error }

func (e *Unreachable) Error() string { return e.Err.Error() }
func (e *Unreachable) Unwrap() error { return e.Err }

// IsUnreachable says whether err means Vault did not answer.
func IsUnreachable(err error) bool {
	var u *Unreachable
	return errors.As(err, &u)
}

// Config is how the operator reaches and lays out Vault.
type Config struct {
	Address      string
	Token        string
	KVMount      string
	TransitMount string
	AuthMount    string
	// KubernetesHost, if set, configures the auth mount against that API server.
	KubernetesHost string
	KubernetesCA   string
	// ReviewerJWTFile, if set, holds the token Vault uses to call TokenReview.
	ReviewerJWTFile string
	// Audience is the audience of runtime ServiceAccount tokens.
	Audience string
}

// Client provisions Vault for tenants.
type Client struct {
	cfg     Config
	api     *vaultapi.Client
	onWrite func(path string)

	mu           sync.Mutex
	platformDone bool
	// jwtWritten is a digest of the reviewer token last written to Vault.
	jwtWritten [32]byte
}

// New returns a Client. onWrite, if set, is called for every write, with the path.
func New(cfg Config, onWrite func(path string)) (*Client, error) {
	vc := vaultapi.DefaultConfig()
	vc.Address = cfg.Address
	vc.Timeout = 10 * time.Second
	vc.MaxRetries = 0 // the controller's backoff retries, not the client
	if err := vc.Error; err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	c, err := vaultapi.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	c.SetToken(cfg.Token)
	if onWrite == nil {
		onWrite = func(string) {}
	}
	return &Client{cfg: cfg, api: c, onWrite: onWrite}, nil
}

// API returns the underlying client, for tests.
func (c *Client) API() *vaultapi.Client { return c.api }

// Config returns the client's configuration.
func (c *Client) Config() Config { return c.cfg }

// classify turns a Vault client error into one that says whether Vault
// answered. Vault's own error texts never echo request bodies, so they are safe.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var respErr *vaultapi.ResponseError
	if errors.As(err, &respErr) {
		msg := strings.Join(respErr.Errors, "; ")
		if msg == "" {
			msg = http.StatusText(respErr.StatusCode)
		}
		return fmt.Errorf("%s: vault answered %d: %s", op, respErr.StatusCode, msg)
	}
	var urlErr *url.Error
	var netErr net.Error
	if errors.As(err, &urlErr) || errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		msg := "connection failed"
		var opErr *net.OpError
		if errors.As(err, &opErr) {
			msg = opErr.Error()
		} else if errors.Is(err, context.DeadlineExceeded) {
			msg = "timed out"
		}
		return &Unreachable{Err: fmt.Errorf("%s: vault is unreachable: %s", op, msg)}
	}
	return fmt.Errorf("%s: %v", op, err)
}

func isNotFound(err error) bool {
	var respErr *vaultapi.ResponseError
	return errors.As(err, &respErr) && respErr.StatusCode == http.StatusNotFound
}

func (c *Client) read(ctx context.Context, path string) (map[string]any, error) {
	s, err := c.api.Logical().ReadWithContext(ctx, path)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, classify("reading "+path, err)
	}
	if s == nil {
		return nil, nil
	}
	return s.Data, nil
}

func (c *Client) write(ctx context.Context, path string, data map[string]any) (*vaultapi.Secret, error) {
	s, err := c.api.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, classify("writing "+path, err)
	}
	c.onWrite(path)
	return s, nil
}

func (c *Client) delete(ctx context.Context, path string) error {
	if _, err := c.api.Logical().DeleteWithContext(ctx, path); err != nil && !isNotFound(err) {
		return classify("deleting "+path, err)
	}
	c.onWrite(path)
	return nil
}

// Ping checks that Vault answers and is unsealed.
func (c *Client) Ping(ctx context.Context) error {
	h, err := c.api.Sys().HealthWithContext(ctx)
	if err != nil {
		return classify("health", err)
	}
	if h.Sealed {
		return errors.New("vault is sealed")
	}
	return nil
}

// EnsurePlatform mounts the KV v2, transit and Kubernetes auth engines the
// tenants share, and configures the auth mount when asked to. It runs once per
// process, and again after any error (Vault may have lost its data).
func (c *Client) EnsurePlatform(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.platformDone {
		return nil
	}
	mounts, err := c.api.Sys().ListMountsWithContext(ctx)
	if err != nil {
		return classify("listing mounts", err)
	}
	if m, ok := mounts[c.cfg.KVMount+"/"]; !ok {
		if err := c.api.Sys().MountWithContext(ctx, c.cfg.KVMount, &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}, Description: "Switchboard tenant secrets"}); err != nil {
			return classify("mounting "+c.cfg.KVMount, err)
		}
		c.onWrite("sys/mounts/" + c.cfg.KVMount)
	} else if m.Type != "kv" || m.Options["version"] != "2" {
		return fmt.Errorf("mount %s/ exists but is not KV version 2", c.cfg.KVMount)
	}
	if _, ok := mounts[c.cfg.TransitMount+"/"]; !ok {
		if err := c.api.Sys().MountWithContext(ctx, c.cfg.TransitMount, &vaultapi.MountInput{Type: "transit", Description: "Switchboard backup keys"}); err != nil {
			return classify("mounting "+c.cfg.TransitMount, err)
		}
		c.onWrite("sys/mounts/" + c.cfg.TransitMount)
	}
	auths, err := c.api.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return classify("listing auth mounts", err)
	}
	if _, ok := auths[c.cfg.AuthMount+"/"]; !ok {
		if err := c.api.Sys().EnableAuthWithOptionsWithContext(ctx, c.cfg.AuthMount, &vaultapi.EnableAuthOptions{Type: "kubernetes"}); err != nil {
			return classify("enabling auth "+c.cfg.AuthMount, err)
		}
		c.onWrite("sys/auth/" + c.cfg.AuthMount)
	}
	if err := c.ensureAuthConfig(ctx); err != nil {
		return err
	}
	c.platformDone = true
	return nil
}

// EnsureAuthConfig points the Kubernetes auth mount at the API server, with
// the current reviewer token, when the operator is asked to manage it.
func (c *Client) EnsureAuthConfig(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ensureAuthConfig(ctx)
}

func (c *Client) ensureAuthConfig(ctx context.Context) error {
	if c.cfg.KubernetesHost == "" {
		return nil
	}
	var jwt []byte
	if c.cfg.ReviewerJWTFile != "" {
		b, err := os.ReadFile(c.cfg.ReviewerJWTFile)
		if err != nil {
			return fmt.Errorf("reading the reviewer token: %w", err)
		}
		jwt = bytes.TrimSpace(b)
	}
	path := "auth/" + c.cfg.AuthMount + "/config"
	have, err := c.read(ctx, path)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(jwt)
	if have != nil && have["kubernetes_host"] == c.cfg.KubernetesHost &&
		strings.TrimSpace(fmt.Sprint(have["kubernetes_ca_cert"])) == strings.TrimSpace(c.cfg.KubernetesCA) &&
		(len(jwt) == 0 || (have["token_reviewer_jwt_set"] == true && digest == c.jwtWritten)) {
		return nil
	}
	data := map[string]any{
		"kubernetes_host":      c.cfg.KubernetesHost,
		"kubernetes_ca_cert":   c.cfg.KubernetesCA,
		"disable_local_ca_jwt": true,
	}
	if len(jwt) > 0 {
		data["token_reviewer_jwt"] = string(jwt)
	}
	if _, err := c.write(ctx, path, data); err != nil {
		return err
	}
	c.jwtWritten = digest
	return nil
}

// ForgetPlatform makes the next EnsurePlatform check again.
func (c *Client) ForgetPlatform() {
	c.mu.Lock()
	c.platformDone = false
	c.mu.Unlock()
}

// TenantPolicy is the policy of one tenant: read its own subtree, nothing else.
func (c *Client) TenantPolicy(subtree string) string {
	return fmt.Sprintf(`# Managed by Switchboard. Read-only access to one tenant's subtree.
path "%[1]s/data/%[2]s/*" {
  capabilities = ["read"]
}
path "%[1]s/metadata/%[2]s/*" {
  capabilities = ["read", "list"]
}
path "%[1]s/metadata/%[2]s" {
  capabilities = ["list"]
}
`, c.cfg.KVMount, subtree)
}

// EnsurePolicy writes the ACL policy if it differs.
func (c *Client) EnsurePolicy(ctx context.Context, name, rules string) error {
	path := "sys/policies/acl/" + name
	have, err := c.read(ctx, path)
	if err != nil {
		return err
	}
	if have != nil && have["policy"] == rules {
		return nil
	}
	_, err = c.write(ctx, path, map[string]any{"policy": rules})
	return err
}

// DeletePolicy removes the ACL policy if it exists.
func (c *Client) DeletePolicy(ctx context.Context, name string) error {
	path := "sys/policies/acl/" + name
	have, err := c.read(ctx, path)
	if err != nil || have == nil {
		return err
	}
	return c.delete(ctx, path)
}

// PolicyExists says whether the ACL policy exists.
func (c *Client) PolicyExists(ctx context.Context, name string) (bool, error) {
	have, err := c.read(ctx, "sys/policies/acl/"+name)
	return have != nil, err
}

// AuthRole is a Kubernetes-auth role.
type AuthRole struct {
	Name           string
	ServiceAccount string
	Namespace      string
	Policies       []string
	TTL            time.Duration
	MaxTTL         time.Duration
}

// EnsureAuthRole writes the Kubernetes-auth role if it differs.
func (c *Client) EnsureAuthRole(ctx context.Context, r AuthRole) error {
	path := "auth/" + c.cfg.AuthMount + "/role/" + r.Name
	have, err := c.read(ctx, path)
	if err != nil {
		return err
	}
	want := map[string]any{
		"bound_service_account_names":      []string{r.ServiceAccount},
		"bound_service_account_namespaces": []string{r.Namespace},
		"token_policies":                   r.Policies,
		"token_ttl":                        int(r.TTL.Seconds()),
		"token_max_ttl":                    int(r.MaxTTL.Seconds()),
		"audience":                         c.cfg.Audience,
	}
	if have != nil &&
		equalStrings(have["bound_service_account_names"], want["bound_service_account_names"].([]string)) &&
		equalStrings(have["bound_service_account_namespaces"], want["bound_service_account_namespaces"].([]string)) &&
		equalStrings(have["token_policies"], r.Policies) &&
		fmt.Sprint(have["token_ttl"]) == fmt.Sprint(want["token_ttl"]) &&
		fmt.Sprint(have["token_max_ttl"]) == fmt.Sprint(want["token_max_ttl"]) &&
		fmt.Sprint(have["audience"]) == c.cfg.Audience {
		return nil
	}
	_, err = c.write(ctx, path, want)
	return err
}

// DeleteAuthRole removes the Kubernetes-auth role if it exists.
func (c *Client) DeleteAuthRole(ctx context.Context, name string) error {
	path := "auth/" + c.cfg.AuthMount + "/role/" + name
	have, err := c.read(ctx, path)
	if err != nil || have == nil {
		return err
	}
	return c.delete(ctx, path)
}

// AuthRoleExists says whether the Kubernetes-auth role exists.
func (c *Client) AuthRoleExists(ctx context.Context, name string) (bool, error) {
	have, err := c.read(ctx, "auth/"+c.cfg.AuthMount+"/role/"+name)
	return have != nil, err
}

func equalStrings(have any, want []string) bool {
	list, ok := have.([]any)
	if !ok {
		return false
	}
	got := make([]string, 0, len(list))
	for _, v := range list {
		got = append(got, fmt.Sprint(v))
	}
	w := append([]string(nil), want...)
	sort.Strings(got)
	sort.Strings(w)
	return reflect.DeepEqual(got, w)
}

// EnsureTransitKey creates the tenant's transit key if missing and allows its
// deletion, so that it can be shredded.
func (c *Client) EnsureTransitKey(ctx context.Context, name string) error {
	path := c.cfg.TransitMount + "/keys/" + name
	have, err := c.read(ctx, path)
	if err != nil {
		return err
	}
	if have == nil {
		if _, err := c.write(ctx, path, map[string]any{"type": "aes256-gcm96", "exportable": false}); err != nil {
			return err
		}
	}
	if have == nil || have["deletion_allowed"] != true {
		if _, err := c.write(ctx, path+"/config", map[string]any{"deletion_allowed": true}); err != nil {
			return err
		}
	}
	return nil
}

// TransitKeyExists says whether the transit key exists.
func (c *Client) TransitKeyExists(ctx context.Context, name string) (bool, error) {
	have, err := c.read(ctx, c.cfg.TransitMount+"/keys/"+name)
	return have != nil, err
}

// ShredTransitKey deletes the transit key, making everything it encrypted
// unreadable. It is a no-op when the key is gone.
func (c *Client) ShredTransitKey(ctx context.Context, name string) error {
	path := c.cfg.TransitMount + "/keys/" + name
	have, err := c.read(ctx, path)
	if err != nil || have == nil {
		return err
	}
	if have["deletion_allowed"] != true {
		if _, err := c.write(ctx, path+"/config", map[string]any{"deletion_allowed": true}); err != nil {
			return err
		}
	}
	return c.delete(ctx, path)
}

// KV is one KV v2 secret as read.
type KV struct {
	Data    map[string]string
	Version int
}

// ReadKV reads the latest version of a KV v2 secret. A missing, deleted or
// destroyed latest version gives nil.
func (c *Client) ReadKV(ctx context.Context, path string) (*KV, error) {
	s, err := c.api.KVv2(c.cfg.KVMount).Get(ctx, path)
	if err != nil {
		if errors.Is(err, vaultapi.ErrSecretNotFound) || isNotFound(err) {
			return nil, nil
		}
		return nil, classify("reading "+c.cfg.KVMount+"/"+path, err)
	}
	// A soft-deleted latest version comes back with nil Data.
	if s == nil || s.Data == nil || s.VersionMetadata == nil || s.VersionMetadata.Destroyed {
		return nil, nil
	}
	out := &KV{Data: map[string]string{}, Version: s.VersionMetadata.Version}
	for k, v := range s.Data {
		if str, ok := v.(string); ok {
			out.Data[k] = str
		}
	}
	return out, nil
}

// WriteKV writes a new version and returns its number.
func (c *Client) WriteKV(ctx context.Context, path string, data map[string]string) (int, error) {
	in := make(map[string]any, len(data))
	for k, v := range data {
		in[k] = v
	}
	s, err := c.api.KVv2(c.cfg.KVMount).Put(ctx, path, in)
	if err != nil {
		return 0, classify("writing "+c.cfg.KVMount+"/"+path, err)
	}
	c.onWrite(c.cfg.KVMount + "/data/" + path)
	return s.VersionMetadata.Version, nil
}

// DestroyKV destroys every version of a secret and its metadata, and says
// whether there was anything to destroy.
func (c *Client) DestroyKV(ctx context.Context, path string) (bool, error) {
	meta, err := c.read(ctx, c.cfg.KVMount+"/metadata/"+path)
	if err != nil || meta == nil {
		return false, err
	}
	return true, c.delete(ctx, c.cfg.KVMount+"/metadata/"+path)
}

// ListKV lists every secret under prefix, recursively, as paths relative to the mount.
func (c *Client) ListKV(ctx context.Context, prefix string) ([]string, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	s, err := c.api.Logical().ListWithContext(ctx, c.cfg.KVMount+"/metadata/"+prefix)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, classify("listing "+c.cfg.KVMount+"/"+prefix, err)
	}
	if s == nil || s.Data == nil {
		return nil, nil
	}
	keys, _ := s.Data["keys"].([]any)
	var out []string
	for _, k := range keys {
		name := fmt.Sprint(k)
		if strings.HasSuffix(name, "/") {
			sub, err := c.ListKV(ctx, prefix+"/"+strings.TrimSuffix(name, "/"))
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		out = append(out, prefix+"/"+name)
	}
	sort.Strings(out)
	return out, nil
}

// DestroyTree destroys every secret under prefix, with all versions and
// metadata, and returns how many it destroyed.
func (c *Client) DestroyTree(ctx context.Context, prefix string) (int, error) {
	paths, err := c.ListKV(ctx, prefix)
	if err != nil {
		return 0, err
	}
	for _, p := range paths {
		if _, err := c.DestroyKV(ctx, p); err != nil {
			return 0, err
		}
	}
	return len(paths), nil
}
