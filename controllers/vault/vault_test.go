package vault_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/switchboard-dev/switchboard/controllers/vault"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// TestKeepTokenAlive runs against a real Vault: a periodic token that the
// client renews outlives its period several times over, and the same token
// left alone expires.
func TestKeepTokenAlive(t *testing.T) {
	v, err := harness.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	root, err := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(harness.RootToken)
	token := func() string {
		s, err := root.Auth().Token().CreateOrphan(&vaultapi.TokenCreateRequest{Period: "4s", Policies: []string{"default"}})
		if err != nil {
			t.Fatal(err)
		}
		return s.Auth.ClientToken
	}
	alive := func(tok string) bool {
		c, _ := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
		c.SetToken(tok)
		_, err := c.Auth().Token().LookupSelf()
		return err == nil
	}
	renewed, left := token(), token()

	c, err := vault.New(vault.Config{Address: v.Addr(), Token: renewed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.KeepTokenAlive(ctx, func(err error) { t.Errorf("keeping the token alive: %v", err) })
	}()
	time.Sleep(10 * time.Second)
	if !alive(renewed) {
		t.Error("the renewed token expired")
	}
	if alive(left) {
		t.Error("the control token, never renewed, is still alive: the test proves nothing")
	}
	cancel()
	<-done

	t.Run("a token that does not expire needs nothing", func(t *testing.T) {
		c, err := vault.New(vault.Config{Address: v.Addr(), Token: harness.RootToken}, nil)
		if err != nil {
			t.Fatal(err)
		}
		returned := make(chan struct{})
		go func() { c.KeepTokenAlive(context.Background(), func(error) {}); close(returned) }()
		select {
		case <-returned:
		case <-time.After(5 * time.Second):
			t.Fatal("KeepTokenAlive did not return for the root token")
		}
	})
}

// TestAuthConfigAcrossRestarts: the Kubernetes auth config is written once;
// a new operator process (a restart) with the same reviewer token writes
// nothing to Vault, and a rotated token is written again.
func TestAuthConfigAcrossRestarts(t *testing.T) {
	v, err := harness.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	dir := t.TempDir()
	jwtFile := filepath.Join(dir, "reviewer.jwt")
	if err := os.WriteFile(jwtFile, []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := vault.Config{Address: v.Addr(), Token: harness.RootToken, KVMount: "switchboard", TransitMount: "switchboard-transit",
		AuthMount: "switchboard-kubernetes", KubernetesHost: "https://127.0.0.1:6443", KubernetesCA: selfSignedPEM(t), ReviewerJWTFile: jwtFile}
	process := func() []string {
		var writes []string
		c, err := vault.New(cfg, func(path string) { writes = append(writes, path) })
		if err != nil {
			t.Fatal(err)
		}
		if err := c.EnsurePlatform(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := c.EnsureAuthConfig(context.Background()); err != nil {
			t.Fatal(err)
		}
		return writes
	}
	wrote := func(writes []string, path string) bool {
		for _, w := range writes {
			if w == path {
				return true
			}
		}
		return false
	}
	first := process()
	if !wrote(first, "auth/switchboard-kubernetes/config") {
		t.Fatalf("the first start did not write the auth config: %v", first)
	}
	if again := process(); len(again) != 0 {
		t.Errorf("a restart with the same token wrote %v, want nothing", again)
	}
	if err := os.WriteFile(jwtFile, []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiIn0.c2ln\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if rotated := process(); !wrote(rotated, "auth/switchboard-kubernetes/config") {
		t.Errorf("a restart with a rotated token did not write it: %v", rotated)
	}
	if again := process(); len(again) != 0 {
		t.Errorf("a restart after the rotation wrote %v, want nothing", again)
	}
	// The digest entry holds no token.
	root, _ := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
	root.SetToken(harness.RootToken)
	s, err := root.KVv2("switchboard").Get(context.Background(), "switchboard-operator/kubernetes-auth")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(s.Data) == "" || strings.Contains(fmt.Sprint(s.Data), "eyJzdWIiOiJiIn0") {
		t.Errorf("the digest entry holds %v", s.Data)
	}
}

func selfSignedPEM(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
