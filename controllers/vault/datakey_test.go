package vault_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/switchboard-dev/switchboard/controllers/backup/artifact"
	"github.com/switchboard-dev/switchboard/controllers/external"
	"github.com/switchboard-dev/switchboard/controllers/vault"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// transitVault starts a real Vault with a transit mount, and returns a
// Client of it and a root API client.
func transitVault(t *testing.T) (*harness.Vault, *vault.Client, *vaultapi.Client) {
	t.Helper()
	v, err := harness.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	root, err := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(harness.RootToken)
	if err := root.Sys().Mount("transit", &vaultapi.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	// The operator's own token: its policy (config/vault/operator-policy.hcl)
	// must be enough for data keys, unwrapping and shredding.
	c, err := vault.New(vault.Config{Address: v.Addr(), Token: harness.OperatorToken, TransitMount: "transit"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v, c, root
}

// noKeyMaterial fails if err's text holds any of secrets.
func noKeyMaterial(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q holds key material", err)
		}
	}
}

// TestDataKeyUnwrapAndShred runs the envelope against a real Vault: data
// keys are fresh, unwrap, survive a rotation; after the transit key is
// shredded, an artifact made before can no longer be decrypted, and a key
// created again under the same name does not bring it back.
func TestDataKeyUnwrapAndShred(t *testing.T) {
	_, c, root := transitVault(t)
	ctx := context.Background()
	const name = "ws-acme-5b0e6c1a"
	// Created as Vault creates keys by default: not deletable until told.
	if _, err := root.Logical().Write("transit/keys/"+name, nil); err != nil {
		t.Fatal(err)
	}

	key, wrapped, version, err := c.DataKey(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != artifact.KeySize || version != 1 || !strings.HasPrefix(wrapped, "vault:v1:") {
		t.Fatalf("DataKey: %d-byte key, version %d, wrapped %.9s…", len(key), version, wrapped)
	}
	other, _, _, err := c.DataKey(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(key, other) {
		t.Fatal("two DataKey calls returned the same key")
	}
	got, err := c.UnwrapKey(ctx, name, wrapped)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("UnwrapKey: %v, equal %v", err, bytes.Equal(got, key))
	}

	// After a rotation new keys are wrapped by version 2; old ones still unwrap.
	if _, err := root.Logical().Write("transit/keys/"+name+"/rotate", nil); err != nil {
		t.Fatal(err)
	}
	key2, wrapped2, version2, err := c.DataKey(ctx, name)
	if err != nil || version2 != 2 || !strings.HasPrefix(wrapped2, "vault:v2:") {
		t.Fatalf("DataKey after rotation: version %d, %v", version2, err)
	}
	if got, err := c.UnwrapKey(ctx, name, wrapped); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrapping a version 1 key after rotation: %v", err)
	}

	// An artifact made before the shred, kept aside like a copy in a store.
	dump := bytes.Repeat([]byte("PGDMP pretend archive row\n"), 100_000)
	var kept bytes.Buffer
	w, err := artifact.NewWriter(&kept, artifact.Header{
		TransitKey: name, KeyVersion: version2, WrappedKey: wrapped2, Created: time.Now(),
	}, key2)
	if err != nil {
		t.Fatal(err)
	}
	clear(key2) // the writer keeps no copy
	if _, err := w.Write(dump); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	decrypt := func() ([]byte, error) {
		r := bytes.NewReader(kept.Bytes())
		h, err := artifact.ReadHeader(r)
		if err != nil {
			return nil, err
		}
		k, err := c.UnwrapKey(ctx, h.TransitKey, h.WrappedKey)
		if err != nil {
			return nil, err
		}
		defer clear(k)
		rd, err := artifact.NewReader(r, h, k)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(rd)
	}
	if plain, err := decrypt(); err != nil || !bytes.Equal(plain, dump) {
		t.Fatalf("decrypting before the shred: %v", err)
	}

	// ShredTransitKey allows the deletion first: Vault refuses it otherwise.
	if _, err := root.Logical().Delete("transit/keys/" + name); err == nil {
		t.Fatal("Vault deleted a key without deletion_allowed: the test proves nothing about it")
	}
	if err := c.ShredTransitKey(ctx, name); err != nil {
		t.Fatal(err)
	}
	secrets := []string{wrapped, wrapped2, base64.StdEncoding.EncodeToString(key)}
	_, err = c.UnwrapKey(ctx, name, wrapped)
	if !errors.Is(err, vault.ErrKeyShredded) {
		t.Fatalf("UnwrapKey after the shred: %v, want ErrKeyShredded", err)
	}
	noKeyMaterial(t, err, secrets...)
	if _, err := decrypt(); !errors.Is(err, vault.ErrKeyShredded) {
		t.Fatalf("decrypting the kept artifact after the shred: %v, want ErrKeyShredded", err)
	}
	if _, _, _, err := c.DataKey(ctx, name); !errors.Is(err, vault.ErrKeyShredded) {
		t.Fatalf("DataKey after the shred: %v, want ErrKeyShredded", err)
	}

	// A new key of the same name is another key: the old wrapped keys stay dead.
	if err := c.EnsureTransitKey(ctx, name); err != nil {
		t.Fatal(err)
	}
	for _, wk := range []string{wrapped, wrapped2} {
		_, err := c.UnwrapKey(ctx, name, wk)
		if !errors.Is(err, vault.ErrWrappedKeyRejected) || errors.Is(err, vault.ErrKeyShredded) {
			t.Fatalf("unwrapping %.9s… with the re-created key: %v, want ErrWrappedKeyRejected", wk, err)
		}
		noKeyMaterial(t, err, secrets...)
	}
	if _, err := decrypt(); !errors.Is(err, vault.ErrWrappedKeyRejected) {
		t.Fatalf("decrypting the kept artifact with the re-created key: %v, want ErrWrappedKeyRejected", err)
	}
}

func TestUnwrapKeyRefusals(t *testing.T) {
	v, c, _ := transitVault(t)
	ctx := context.Background()
	const name = "ws-beta-0c11"
	if err := c.EnsureTransitKey(ctx, name); err != nil {
		t.Fatal(err)
	}
	key, wrapped, _, err := c.DataKey(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{wrapped, base64.StdEncoding.EncodeToString(key)}

	t.Run("altered wrapped key", func(t *testing.T) {
		b := []byte(wrapped)
		b[len(b)-5] ^= 1
		altered := string(b)
		_, err := c.UnwrapKey(ctx, name, altered)
		if !errors.Is(err, vault.ErrWrappedKeyRejected) {
			t.Fatalf("got %v, want ErrWrappedKeyRejected", err)
		}
		noKeyMaterial(t, err, append(secrets, altered)...)
	})
	t.Run("not a Vault ciphertext", func(t *testing.T) {
		_, err := c.UnwrapKey(ctx, name, "some-secret-looking-text")
		if !errors.Is(err, vault.ErrWrappedKeyRejected) {
			t.Fatalf("got %v, want ErrWrappedKeyRejected", err)
		}
		noKeyMaterial(t, err, "some-secret-looking-text")
	})
	t.Run("another key's wrapped key", func(t *testing.T) {
		if err := c.EnsureTransitKey(ctx, "ws-gamma-0c12"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UnwrapKey(ctx, "ws-gamma-0c12", wrapped); !errors.Is(err, vault.ErrWrappedKeyRejected) {
			t.Fatalf("got %v, want ErrWrappedKeyRejected", err)
		}
	})
	t.Run("names that leave the mount", func(t *testing.T) {
		for _, bad := range []string{"", "../sys/policies/acl/x", "a/b", ".hidden", "ws acme", strings.Repeat("k", 257)} {
			if _, err := c.UnwrapKey(ctx, bad, wrapped); err == nil || errors.Is(err, vault.ErrWrappedKeyRejected) {
				t.Errorf("UnwrapKey(%q): %v, want a refusal before Vault is asked", bad, err)
			}
			if _, _, _, err := c.DataKey(ctx, bad); err == nil {
				t.Errorf("DataKey(%q) was accepted", bad)
			}
		}
	})
	t.Run("vault down", func(t *testing.T) {
		v.Stop()
		_, err := c.UnwrapKey(ctx, name, wrapped)
		var down *external.Unreachable
		if !errors.As(err, &down) {
			t.Fatalf("got %v, want *external.Unreachable", err)
		}
		noKeyMaterial(t, err, secrets...)
	})
}
