package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/controllers/backup/artifact"
	"github.com/switchboard-dev/switchboard/controllers/backup/cli"
	"github.com/switchboard-dev/switchboard/controllers/vault"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// pgDump makes a real pg_dump -Fc archive of a small database.
func pgDump(t *testing.T) []byte {
	t.Helper()
	pg, err := harness.StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE contacts (id bigint PRIMARY KEY, name text NOT NULL, email text);
		INSERT INTO contacts SELECT i, 'contact ' || i, 'c' || i || '@example.test' FROM generate_series(1, 5000) i`); err != nil {
		t.Fatal(err)
	}
	dump, err := exec.Command("pg_dump", "-Fc", "--dbname", pg.AdminDSN()).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return dump
}

// testChunk makes the small archive span several chunks.
const testChunk = 4 << 10

type env struct {
	vault   *harness.Vault
	client  *vault.Client
	dir     string
	key     string
	secrets []string
}

// run runs `switchboard backup args...` with env's Vault.
func (e *env) run(t *testing.T, stdin []byte, token string, args ...string) (code int, stdout []byte, stderr string) {
	t.Helper()
	getenv := func(k string) string {
		switch k {
		case "VAULT_ADDR":
			return e.vault.Addr()
		case "VAULT_TOKEN":
			return token
		}
		return ""
	}
	var out, errOut bytes.Buffer
	code = cli.Run(context.Background(), args, getenv, bytes.NewReader(stdin), &out, &errOut)
	for _, s := range e.secrets {
		if strings.Contains(errOut.String(), s) {
			t.Fatalf("the command's messages hold key material: %s", errOut.String())
		}
	}
	return code, out.Bytes(), errOut.String()
}

// encryptFile writes an artifact of plain under e.key to a file.
func (e *env) encryptFile(t *testing.T, name string, plain []byte) string {
	t.Helper()
	key, wrapped, version, err := e.client.DataKey(context.Background(), e.key)
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, wrapped, base64.StdEncoding.EncodeToString(key))
	var b bytes.Buffer
	w, err := artifact.NewWriter(&b, artifact.Header{
		TransitKey: e.key, KeyVersion: version, WrappedKey: wrapped, Created: time.Now(),
		ChunkSize: testChunk, Metadata: []byte(`{"rows":{"contacts":5000}}`),
	}, key)
	clear(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// onlyFiles fails unless dir holds exactly names: no partial plaintext.
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
}

// TestDecrypt runs `switchboard backup decrypt` end to end against a real
// Vault, on an artifact of a real pg_dump -Fc archive.
func TestDecrypt(t *testing.T) {
	dump := pgDump(t)
	v, err := harness.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	c, err := vault.New(vault.Config{Address: v.Addr(), Token: harness.RootToken, KVMount: "switchboard", TransitMount: "transit", AuthMount: "kubernetes"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.EnsurePlatform(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{vault: v, client: c, key: "ws-acme-1d2c3b4a"}
	if err := c.EnsureTransitKey(ctx, e.key); err != nil {
		t.Fatal(err)
	}

	t.Run("to a file, then pg_restore reads it", func(t *testing.T) {
		e.dir = t.TempDir()
		in := e.encryptFile(t, "acme.swbk", dump)
		out := filepath.Join(e.dir, "acme.dump")
		code, _, stderr := e.run(t, nil, harness.RootToken, "decrypt", "--in", in, "--out", out)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		got, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(got, dump) {
			t.Fatalf("the output is not the pg_dump archive (%d bytes, want %d): %v", len(got), len(dump), err)
		}
		list, err := exec.Command("pg_restore", "--list", out).CombinedOutput()
		if err != nil || !bytes.Contains(list, []byte("TABLE public contacts")) {
			t.Fatalf("pg_restore --list: %v\n%s", err, list)
		}
		if !strings.Contains(stderr, "key "+e.key+" version 1") {
			t.Errorf("summary: %q", stderr)
		}
		if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("the plaintext's mode is %v, want 0600 (%v)", st.Mode().Perm(), err)
		}

		code, _, stderr = e.run(t, nil, harness.RootToken, "decrypt", "--in", in, "--out", out)
		if code != 1 || !strings.Contains(stderr, "already exists") {
			t.Fatalf("decrypting onto an existing file: exit %d: %s", code, stderr)
		}
	})

	t.Run("standard input to standard output", func(t *testing.T) {
		e.dir = t.TempDir()
		raw, err := os.ReadFile(e.encryptFile(t, "acme.swbk", dump))
		if err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := e.run(t, raw, harness.RootToken, "decrypt", "--in", "-", "--out", "-")
		if code != 0 || !bytes.Equal(stdout, dump) {
			t.Fatalf("exit %d, %d bytes: %s", code, len(stdout), stderr)
		}
	})

	t.Run("damaged artifacts leave nothing behind", func(t *testing.T) {
		e.dir = t.TempDir()
		in := e.encryptFile(t, "acme.swbk", dump)
		raw, _ := os.ReadFile(in)
		h, err := artifact.ReadHeader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		flipped := bytes.Clone(raw)
		flipped[len(flipped)-100] ^= 1
		for name, b := range map[string][]byte{
			"tampered":  flipped,
			"truncated": raw[:h.Len()+2*(testChunk+artifact.TagSize)],
		} {
			bad := filepath.Join(e.dir, name+".swbk")
			os.WriteFile(bad, b, 0o600)
			code, _, stderr := e.run(t, nil, harness.RootToken, "decrypt", "--in", bad, "--out", filepath.Join(e.dir, name+".dump"))
			if code != 1 || !strings.Contains(stderr, "backup artifact") {
				t.Fatalf("%s: exit %d: %s", name, code, stderr)
			}
		}
		onlyFiles(t, e.dir, "acme.swbk", "tampered.swbk", "truncated.swbk")
	})

	t.Run("misuse", func(t *testing.T) {
		for _, args := range [][]string{{}, {"encrypt"}, {"decrypt"}, {"decrypt", "--in", "x"}, {"decrypt", "--in", "x", "--out", "y", "extra"}} {
			if code, _, _ := e.run(t, nil, harness.RootToken, args...); code != 2 {
				t.Errorf("switchboard backup %v: exit %d, want 2", args, code)
			}
		}
		if code, _, stderr := e.run(t, nil, "", "decrypt", "--in", "x", "--out", "y"); code != 2 || !strings.Contains(stderr, "VAULT_TOKEN") {
			t.Errorf("no token: exit %d: %s", code, stderr)
		}
	})

	t.Run("a token without decrypt rights", func(t *testing.T) {
		e.dir = t.TempDir()
		in := e.encryptFile(t, "acme.swbk", dump)
		root, err := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
		if err != nil {
			t.Fatal(err)
		}
		root.SetToken(harness.RootToken)
		tok, err := root.Auth().Token().CreateOrphan(&vaultapi.TokenCreateRequest{Policies: []string{"default"}, TTL: "10m"})
		if err != nil {
			t.Fatal(err)
		}
		code, _, stderr := e.run(t, nil, tok.Auth.ClientToken, "decrypt", "--in", in, "--out", filepath.Join(e.dir, "out"))
		if code != 1 || !strings.Contains(stderr, "403") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		onlyFiles(t, e.dir, "acme.swbk")
	})

	// Last: it destroys the key the other cases use.
	t.Run("after the shred", func(t *testing.T) {
		e.dir = t.TempDir()
		in := e.encryptFile(t, "acme.swbk", dump)
		if err := c.ShredTransitKey(ctx, e.key); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := e.run(t, nil, harness.RootToken, "decrypt", "--in", in, "--out", filepath.Join(e.dir, "acme.dump"))
		if code != 1 || !strings.Contains(stderr, "crypto-shredded") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		onlyFiles(t, e.dir, "acme.swbk")
	})
}
