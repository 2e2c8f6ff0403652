// Package vault provisions tenant subtrees, policies, Kubernetes-auth roles and
// transit keys in Vault, and stores Integration credentials. Every Ensure
// method reads first and writes only what differs.
package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/switchboard-dev/switchboard/controllers/external"
	"github.com/switchboard-dev/switchboard/runtime/contract"
)

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
	// OnRequest, if set, is called for every HTTP request to Vault, read or
	// write: the operator's round trips, for its metrics.
	OnRequest func()
}

// countingTransport calls onRequest for every request it sends.
type countingTransport struct {
	next      http.RoundTripper
	onRequest func()
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.onRequest()
	return t.next.RoundTrip(req)
}

// Client provisions Vault for tenants.
type Client struct {
	cfg     Config
	api     *vaultapi.Client
	onWrite func(path string)

	mu sync.Mutex
	// platformDone is set once EnsurePlatform found everything in place, and
	// cleared by any failed call: Vault may have lost its data.
	platformDone atomic.Bool
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
	if cfg.OnRequest != nil {
		next := vc.HttpClient.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		vc.HttpClient.Transport = countingTransport{next: next, onRequest: cfg.OnRequest}
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

// Config returns the client's configuration.
func (c *Client) Config() Config { return c.cfg }

// API is the underlying Vault client, for packages that speak Vault
// themselves (the erasure ledger of runtime/privacy). Its writes are not
// counted by onWrite.
func (c *Client) API() *vaultapi.Client { return c.api }

// classify turns a Vault client error into one that says whether Vault
// answered. Vault's own error texts never echo request bodies, so they are safe.
func (c *Client) classify(op string, err error) error {
	if err == nil {
		return nil
	}
	c.platformDone.Store(false)
	return classify(op, err)
}

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
		return external.NewUnreachable(external.Vault, op+": vault", err)
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
		return nil, c.classify("reading "+path, err)
	}
	if s == nil {
		return nil, nil
	}
	return s.Data, nil
}

func (c *Client) write(ctx context.Context, path string, data map[string]any) (*vaultapi.Secret, error) {
	s, err := c.api.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, c.classify("writing "+path, err)
	}
	c.onWrite(path)
	return s, nil
}

func (c *Client) delete(ctx context.Context, path string) error {
	if _, err := c.api.Logical().DeleteWithContext(ctx, path); err != nil && !isNotFound(err) {
		return c.classify("deleting "+path, err)
	}
	c.onWrite(path)
	return nil
}

// KeepTokenAlive renews the operator's own token before it expires, at a
// third of its TTL, until ctx ends. A token that does not expire (root, or
// one with no TTL) or cannot be renewed needs nothing, and it returns at
// once. Failures are reported to onError and retried sooner.
func (c *Client) KeepTokenAlive(ctx context.Context, onError func(error)) {
	for {
		s, err := c.api.Auth().Token().LookupSelfWithContext(ctx)
		wait := 10 * time.Second
		if err != nil {
			onError(c.classify("looking up the operator's token", err))
		} else {
			ttl, _ := s.TokenTTL()
			renewable, _ := s.TokenIsRenewable()
			if ttl == 0 || !renewable {
				return
			}
			wait = ttl / 3
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err == nil {
			if _, err := c.api.Auth().Token().RenewSelfWithContext(ctx, 0); err != nil && ctx.Err() == nil {
				onError(c.classify("renewing the operator's token", err))
			}
		}
	}
}

// EnsurePlatform mounts the KV v2, transit and Kubernetes auth engines the
// tenants share, and configures the auth mount when asked to. It runs once per
// process, and again after any error (Vault may have lost its data).
func (c *Client) EnsurePlatform(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.platformDone.Load() {
		return nil
	}
	mounts, err := c.api.Sys().ListMountsWithContext(ctx)
	if err != nil {
		return c.classify("listing mounts", err)
	}
	if m, ok := mounts[c.cfg.KVMount+"/"]; !ok {
		if err := c.api.Sys().MountWithContext(ctx, c.cfg.KVMount, &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}, Description: "Switchboard tenant secrets"}); err != nil {
			return c.classify("mounting "+c.cfg.KVMount, err)
		}
		c.onWrite("sys/mounts/" + c.cfg.KVMount)
	} else if m.Type != "kv" || m.Options["version"] != "2" {
		return fmt.Errorf("mount %s/ exists but is not KV version 2", c.cfg.KVMount)
	}
	if _, ok := mounts[c.cfg.TransitMount+"/"]; !ok {
		if err := c.api.Sys().MountWithContext(ctx, c.cfg.TransitMount, &vaultapi.MountInput{Type: "transit", Description: "Switchboard backup keys"}); err != nil {
			return c.classify("mounting "+c.cfg.TransitMount, err)
		}
		c.onWrite("sys/mounts/" + c.cfg.TransitMount)
	}
	auths, err := c.api.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return c.classify("listing auth mounts", err)
	}
	if _, ok := auths[c.cfg.AuthMount+"/"]; !ok {
		if err := c.api.Sys().EnableAuthWithOptionsWithContext(ctx, c.cfg.AuthMount, &vaultapi.EnableAuthOptions{Type: "kubernetes"}); err != nil {
			return c.classify("enabling auth "+c.cfg.AuthMount, err)
		}
		c.onWrite("sys/auth/" + c.cfg.AuthMount)
	}
	if err := c.ensureAuthConfig(ctx); err != nil {
		return err
	}
	c.platformDone.Store(true)
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
	sameConfig := have != nil && have["kubernetes_host"] == c.cfg.KubernetesHost &&
		strings.TrimSpace(fmt.Sprint(have["kubernetes_ca_cert"])) == strings.TrimSpace(c.cfg.KubernetesCA)
	if sameConfig && len(jwt) == 0 {
		return nil
	}
	// Vault 1.14's plugin does not say whether a token is set (later ones
	// answer token_reviewer_jwt_set): a false there means it must be written.
	if set, told := have["token_reviewer_jwt_set"]; sameConfig && (!told || set == true) {
		if digest == c.jwtWritten {
			return nil
		}
		// Vault never returns the token, so the digest of the one written
		// last is kept beside it: a restart with the same token writes
		// nothing.
		kv, err := c.ReadKV(ctx, authConfigDigestPath)
		if err != nil {
			return err
		}
		if kv != nil && kv.Owner == authConfigDigestOwner && kv.Data["reviewer_jwt_sha256"] == hex.EncodeToString(digest[:]) {
			c.jwtWritten = digest
			return nil
		}
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
	if len(jwt) > 0 {
		if _, err := c.WriteKV(ctx, authConfigDigestPath, map[string]string{"reviewer_jwt_sha256": hex.EncodeToString(digest[:])}, authConfigDigestOwner); err != nil {
			return err
		}
	}
	c.jwtWritten = digest
	return nil
}

// authConfigDigestPath is the KV entry (outside every tenant's subtree)
// with the SHA-256 of the reviewer token last written to the Kubernetes
// auth config; authConfigDigestOwner marks it as the operator's.
const (
	authConfigDigestPath  = "switchboard-operator/kubernetes-auth"
	authConfigDigestOwner = "switchboard-operator"
)

// policyMark starts the line of a tenant policy that names its Workspace UID.
const policyMark = "# workspace-uid: "

// TenantPolicy is the policy of one tenant: read its own subtree; append
// to and read its erasure ledger (ledger, a prefix outside the subtree, see
// runtime/privacy); write its integrations' health reports
// (contract.HealthEntry); and write the tokens entry (contract.TokensEntry)
// of exactly the Integrations named in tokens, the ones whose runtime
// obtains tokens itself (microsoft). Nothing else. The ledger's entries may
// be created, read and updated, which check-and-set appends need, but not
// deleted, destroyed or listed. Its first line names the Workspace UID it
// was written for.
func (c *Client) TenantPolicy(subtree, ledger, uid string, tokens []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `%[3]s%[4]s
# Managed by Switchboard. Read-only access to one tenant's subtree, append
# access to its erasure ledger, and write access to its integrations' health
# reports and to the OAuth tokens of the integrations listed below.
path "%[1]s/data/%[2]s/*" {
  capabilities = ["read"]
}
path "%[1]s/metadata/%[2]s/*" {
  capabilities = ["read", "list"]
}
path "%[1]s/metadata/%[2]s" {
  capabilities = ["list"]
}
path "%[1]s/data/%[5]s/*" {
  capabilities = ["create", "read", "update"]
}
path "%[1]s/data/%[2]s/%[6]s*" {
  capabilities = ["create", "read", "update"]
}
`, c.cfg.KVMount, subtree, policyMark, uid, ledger, contract.HealthEntry(""))
	for _, name := range tokens {
		fmt.Fprintf(&b, `path "%s/data/%s/%s" {
  capabilities = ["create", "read", "update"]
}
`, c.cfg.KVMount, subtree, contract.TokensEntry(name))
	}
	return b.String()
}

// policyOwner is the Workspace UID a policy's text names, or "".
func policyOwner(rules string) string {
	first, _, _ := strings.Cut(rules, "\n")
	uid, _ := strings.CutPrefix(first, policyMark)
	if uid == first {
		return ""
	}
	return strings.TrimSpace(uid)
}

// EnsurePolicy writes the ACL policy if it differs. A policy of that name
// that does not name a UID claim accepts is not touched: it may be what some
// other token's access rests on.
func (c *Client) EnsurePolicy(ctx context.Context, name, rules string, claim external.Claim) error {
	path := "sys/policies/acl/" + name
	have, err := c.read(ctx, path)
	if err != nil {
		return err
	}
	if have != nil {
		text, _ := have["policy"].(string)
		if text == rules {
			return nil
		}
		if owner := policyOwner(text); !claim.Accepts(owner) {
			return external.Conflict("Vault policy "+name, owner)
		}
	}
	_, err = c.write(ctx, path, map[string]any{"policy": rules})
	return err
}

// DeletePolicy removes the ACL policy if it exists and names uid. It says
// whether a policy of that name is left because it is someone else's.
func (c *Client) DeletePolicy(ctx context.Context, name, uid string) (kept bool, err error) {
	path := "sys/policies/acl/" + name
	have, err := c.read(ctx, path)
	if err != nil || have == nil {
		return false, err
	}
	if text, _ := have["policy"].(string); policyOwner(text) != uid {
		return true, nil
	}
	return false, c.delete(ctx, path)
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

// roleOurs says whether an existing role grants exactly policies, the
// tenant's own (whose ownership EnsurePolicy proves): any other role of the
// name is someone else's.
func roleOurs(have map[string]any, policies []string) bool {
	return equalStrings(have["token_policies"], policies)
}

// EnsureAuthRole writes the Kubernetes-auth role if it differs. Logins get an
// identity alias named <namespace>/<serviceaccount>, so that DeleteIdentity
// can find and remove the entity they create.
func (c *Client) EnsureAuthRole(ctx context.Context, r AuthRole) error {
	path := "auth/" + c.cfg.AuthMount + "/role/" + r.Name
	have, err := c.read(ctx, path)
	if err != nil {
		return err
	}
	if have != nil && !roleOurs(have, r.Policies) {
		return external.Conflict("Vault auth role "+r.Name, "")
	}
	want := map[string]any{
		"bound_service_account_names":      []string{r.ServiceAccount},
		"bound_service_account_namespaces": []string{r.Namespace},
		"token_policies":                   r.Policies,
		"token_ttl":                        int(r.TTL.Seconds()),
		"token_max_ttl":                    int(r.MaxTTL.Seconds()),
		"audience":                         c.cfg.Audience,
		"alias_name_source":                "serviceaccount_name",
	}
	if have != nil &&
		equalStrings(have["bound_service_account_names"], want["bound_service_account_names"].([]string)) &&
		equalStrings(have["bound_service_account_namespaces"], want["bound_service_account_namespaces"].([]string)) &&
		equalStrings(have["token_policies"], r.Policies) &&
		fmt.Sprint(have["token_ttl"]) == fmt.Sprint(want["token_ttl"]) &&
		fmt.Sprint(have["token_max_ttl"]) == fmt.Sprint(want["token_max_ttl"]) &&
		fmt.Sprint(have["audience"]) == c.cfg.Audience &&
		fmt.Sprint(have["alias_name_source"]) == "serviceaccount_name" {
		return nil
	}
	if have != nil && fmt.Sprint(have["alias_name_source"]) != "serviceaccount_name" {
		// Vault refuses to change an existing role's alias source.
		if err := c.delete(ctx, path); err != nil {
			return err
		}
	}
	_, err = c.write(ctx, path, want)
	return err
}

// DeleteAuthRole removes the Kubernetes-auth role if it exists and grants
// exactly policies. It says whether a role of that name is left because it
// is someone else's.
func (c *Client) DeleteAuthRole(ctx context.Context, name string, policies []string) (kept bool, err error) {
	path := "auth/" + c.cfg.AuthMount + "/role/" + name
	have, err := c.read(ctx, path)
	if err != nil || have == nil {
		return false, err
	}
	if !roleOurs(have, policies) {
		return true, nil
	}
	return false, c.delete(ctx, path)
}

// DeleteIdentity removes the identity entity that runtime logins from
// serviceAccount in namespace created, with its aliases. It says whether
// there was one.
func (c *Client) DeleteIdentity(ctx context.Context, namespace, serviceAccount string) (bool, error) {
	auths, err := c.api.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return false, c.classify("listing auth mounts", err)
	}
	mount, ok := auths[c.cfg.AuthMount+"/"]
	if !ok {
		return false, nil
	}
	s, err := c.api.Logical().WriteWithContext(ctx, "identity/lookup/entity", map[string]any{
		"alias_name": namespace + "/" + serviceAccount, "alias_mount_accessor": mount.Accessor,
	})
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, c.classify("looking up the runtime's identity", err)
	}
	if s == nil || s.Data == nil {
		return false, nil // Vault answers 204 when there is none
	}
	id, _ := s.Data["id"].(string)
	if id == "" {
		return false, nil
	}
	if err := c.delete(ctx, "identity/entity/id/"+id); err != nil {
		return false, err
	}
	return true, nil
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
	// Owner is the Workspace UID in the entry's custom metadata, or "".
	Owner string
}

// ownerKey is the custom-metadata key of a KV entry that names the Workspace
// UID the operator wrote it for.
const ownerKey = "workspace-uid"

// ReadKV reads the latest version of a KV v2 secret. A missing, deleted or
// destroyed latest version gives nil.
func (c *Client) ReadKV(ctx context.Context, path string) (*KV, error) {
	s, err := c.api.KVv2(c.cfg.KVMount).Get(ctx, path)
	if err != nil {
		if errors.Is(err, vaultapi.ErrSecretNotFound) || isNotFound(err) {
			return nil, nil
		}
		return nil, c.classify("reading "+c.cfg.KVMount+"/"+path, err)
	}
	// A soft-deleted latest version comes back with nil Data.
	if s == nil || s.Data == nil || s.VersionMetadata == nil || s.VersionMetadata.Destroyed {
		return nil, nil
	}
	out := &KV{Data: map[string]string{}, Version: s.VersionMetadata.Version}
	if uid, ok := s.CustomMetadata[ownerKey].(string); ok {
		out.Owner = uid
	}
	for k, v := range s.Data {
		if str, ok := v.(string); ok {
			out.Data[k] = str
		}
	}
	return out, nil
}

// WriteKV writes a new version, marked in the entry's custom metadata as
// written for Workspace UID owner, and returns its number.
func (c *Client) WriteKV(ctx context.Context, path string, data map[string]string, owner string) (int, error) {
	in := make(map[string]any, len(data))
	for k, v := range data {
		in[k] = v
	}
	s, err := c.api.KVv2(c.cfg.KVMount).Put(ctx, path, in)
	if err != nil {
		return 0, c.classify("writing "+c.cfg.KVMount+"/"+path, err)
	}
	c.onWrite(c.cfg.KVMount + "/data/" + path)
	if _, err := c.write(ctx, c.cfg.KVMount+"/metadata/"+path, map[string]any{
		"custom_metadata": map[string]string{ownerKey: owner},
	}); err != nil {
		return 0, err
	}
	return s.VersionMetadata.Version, nil
}

// ClaimSubtree makes sure the tenant subtree is claim's before anything is
// written to it or anyone is given access to it. Its mark is an entry at the
// subtree's own path (outside the tenant's policy), naming the Workspace UID.
// An unmarked subtree is claimed only while it is empty; a subtree marked for
// another UID (say, data retained from an earlier Workspace of the same name)
// gives an *external.ConflictError unless claim adopts it. adopted reports a
// takeover.
func (c *Client) ClaimSubtree(ctx context.Context, subtree string, claim external.Claim) (adopted bool, err error) {
	mark, err := c.SubtreeOwner(ctx, subtree)
	if err != nil {
		return false, err
	}
	if mark == claim.UID {
		return false, nil
	}
	object := "Vault subtree " + c.cfg.KVMount + "/" + subtree
	if mark == "" && claim.AdoptFrom != external.AdoptUnmarked {
		entries, err := c.ListKV(ctx, subtree)
		if err != nil {
			return false, err
		}
		if len(entries) > 0 {
			return false, external.Conflict(object, "")
		}
	} else if !claim.Accepts(mark) {
		return false, external.Conflict(object, mark)
	}
	if _, err := c.WriteKV(ctx, subtree, map[string]string{ownerKey: claim.UID}, claim.UID); err != nil {
		return false, err
	}
	return mark != "" || claim.AdoptFrom == external.AdoptUnmarked, nil
}

// SubtreeOwner is the Workspace UID that marks the subtree, or "".
func (c *Client) SubtreeOwner(ctx context.Context, subtree string) (string, error) {
	kv, err := c.ReadKV(ctx, subtree)
	if err != nil || kv == nil {
		return "", err
	}
	return kv.Data[ownerKey], nil
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
		return nil, c.classify("listing "+c.cfg.KVMount+"/"+prefix, err)
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

// ErrKeyShredded says a transit key does not exist: it was deleted
// (crypto-shredded), or never created. Whatever it wrapped can no longer be
// unwrapped. A Vault that lost its storage answers the same way.
var ErrKeyShredded = errors.New("the transit key does not exist (shredded, or never created): what it wrapped cannot be unwrapped")

// ErrWrappedKeyRejected says Vault has a transit key of that name but cannot
// decrypt the wrapped key with it: the wrapped key was altered, or was made
// by an earlier key of the same name that was shredded and created again.
var ErrWrappedKeyRejected = errors.New("the wrapped key was refused by Vault: it was altered, or was wrapped by a transit key of this name that has since been shredded")

// DataKey asks Vault for a new 256-bit data key under transitKey
// (transit/datakey/plaintext). It returns the key, the key wrapped by
// transitKey ("vault:vN:..."), and N, the version of transitKey that wrapped
// it. The caller keeps the plaintext in memory only and clears it when done;
// the copies inside the Vault client's response cannot be cleared. Errors
// never hold key material; a missing transit key gives ErrKeyShredded.
func (c *Client) DataKey(ctx context.Context, transitKey string) (plaintext []byte, wrapped string, version int, err error) {
	if err := checkTransitKeyName(transitKey); err != nil {
		return nil, "", 0, err
	}
	op := "generating a data key with transit key " + transitKey
	s, err := c.api.Logical().WriteWithContext(ctx, c.cfg.TransitMount+"/datakey/plaintext/"+transitKey, map[string]any{"bits": 256})
	if err != nil {
		return nil, "", 0, c.transitError(op, err)
	}
	if s == nil || s.Data == nil {
		return nil, "", 0, fmt.Errorf("%s: vault returned no data key", op)
	}
	b64, _ := s.Data["plaintext"].(string)
	wrapped, _ = s.Data["ciphertext"].(string)
	version, verr := intValue(s.Data["key_version"])
	plaintext, derr := base64.StdEncoding.DecodeString(b64)
	if derr != nil || len(plaintext) != 32 || verr != nil || version < 1 ||
		!strings.HasPrefix(wrapped, "vault:v"+strconv.Itoa(version)+":") {
		clear(plaintext)
		return nil, "", 0, fmt.Errorf("%s: vault's answer is not a 256-bit data key with its wrapped copy and key version", op)
	}
	return plaintext, wrapped, version, nil
}

// UnwrapKey asks Vault to decrypt a data key wrapped by transitKey
// (transit/decrypt). It returns ErrKeyShredded if transitKey is gone and
// ErrWrappedKeyRejected if it cannot decrypt wrapped. Errors never hold the
// wrapped key or the plaintext.
func (c *Client) UnwrapKey(ctx context.Context, transitKey, wrapped string) ([]byte, error) {
	if err := checkTransitKeyName(transitKey); err != nil {
		return nil, err
	}
	op := "unwrapping a data key with transit key " + transitKey
	s, err := c.api.Logical().WriteWithContext(ctx, c.cfg.TransitMount+"/decrypt/"+transitKey, map[string]any{"ciphertext": wrapped})
	if err != nil {
		err = c.transitError(op, err)
		if len(wrapped) > 8 && strings.Contains(err.Error(), wrapped) {
			return nil, fmt.Errorf("%s: vault refused the request", op)
		}
		return nil, err
	}
	if s == nil || s.Data == nil {
		return nil, fmt.Errorf("%s: vault returned no plaintext", op)
	}
	b64, _ := s.Data["plaintext"].(string)
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) == 0 {
		clear(key)
		return nil, fmt.Errorf("%s: vault's answer is not a data key", op)
	}
	return key, nil
}

// transitError turns Vault's answers about a missing key or a ciphertext it
// cannot decrypt into ErrKeyShredded and ErrWrappedKeyRejected (tested
// against Vault 1.14.2's texts), and classifies the rest.
func (c *Client) transitError(op string, err error) error {
	var respErr *vaultapi.ResponseError
	if errors.As(err, &respErr) && respErr.StatusCode == http.StatusBadRequest {
		msg := strings.Join(respErr.Errors, "; ")
		switch {
		case strings.Contains(msg, "encryption key not found"):
			c.platformDone.Store(false)
			return fmt.Errorf("%s: %w", op, ErrKeyShredded)
		case strings.Contains(msg, "message authentication failed"), strings.Contains(msg, "invalid ciphertext"):
			c.platformDone.Store(false)
			return fmt.Errorf("%s: %w (vault: %s)", op, ErrWrappedKeyRejected, msg)
		}
	}
	return c.classify(op, err)
}

// checkTransitKeyName refuses a name that could leave the transit mount's
// path: a name read from an artifact header comes from outside.
func checkTransitKeyName(name string) error {
	ok := len(name) > 0 && len(name) <= 256
	for i, r := range name {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || (r != '-' && r != '_' && r != '.')) {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("transit key name %q is not valid: it must be 1 to 256 letters, digits, '-', '_' or '.', starting with a letter or digit", name)
	}
	return nil
}

// intValue reads a number from a Vault response, which the client decodes
// as json.Number.
func intValue(v any) (int, error) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return int(i), err
	case float64:
		return int(n), nil
	case int:
		return n, nil
	}
	return 0, fmt.Errorf("not a number: %T", v)
}
