package secrets

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/switchboard-dev/switchboard/test/harness"
)

// TestKeepAliveRenews gives the runtime a renewable token that lives 6 s and
// checks that it still works more than twice that long later, because
// KeepAlive renews it. (6 s leaves room for a loaded machine's stalls.)
func TestKeepAliveRenews(t *testing.T) {
	v, err := harness.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	root, _ := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
	root.SetToken(harness.RootToken)
	if err := root.Sys().Mount("switchboard", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.KVv2("switchboard").Put(context.Background(), "workspaces/a/database", map[string]any{"dsn": "postgres://x"}); err != nil {
		t.Fatal(err)
	}
	tok, err := root.Auth().Token().Create(&vaultapi.TokenCreateRequest{TTL: "6s", ExplicitMaxTTL: "1m", Renewable: boolPtr(true), Policies: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sv, err := Login(ctx, Options{Addr: v.Addr(), KVMount: "switchboard", Path: "workspaces/a", Token: tok.Auth.ClientToken,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	go sv.KeepAlive(ctx)
	time.Sleep(13 * time.Second)
	data, version, err := sv.Read(ctx, "database")
	if err != nil || data["dsn"] != "postgres://x" || version != 1 {
		t.Fatalf("after 13 s: %v %v %v", data, version, err)
	}
	if _, _, err := sv.Read(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing entry: %v", err)
	}
}

func boolPtr(b bool) *bool { return &b }
