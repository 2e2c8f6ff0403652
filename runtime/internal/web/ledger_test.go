package web

import (
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/switchboard-dev/switchboard/runtime/privacy"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// The package's Vault, started by the first test that needs an erasure
// ledger and stopped by TestMain (stopVault).
var (
	vaultOnce   sync.Once
	vaultServer *harness.Vault
	vaultErr    error
	ledgerSeq   atomic.Int64
)

// ledgerMount is the operator's default KV v2 mount, which Vault's dev
// server lacks.
const ledgerMount = "switchboard"

func startVault() {
	if vaultServer, vaultErr = harness.StartVault(); vaultErr != nil {
		vaultErr = fmt.Errorf("starting Vault: %w", vaultErr)
		return
	}
	c, err := vaultClient()
	if err == nil {
		err = c.Sys().Mount(ledgerMount, &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}})
	}
	if err != nil {
		vaultErr = fmt.Errorf("mounting %s in the test Vault: %w", ledgerMount, err)
	}
}

// stopVault stops the package's Vault if a test started it.
func stopVault() {
	if vaultServer != nil {
		vaultServer.Close()
	}
}

func vaultClient() (*vaultapi.Client, error) {
	cfg := vaultapi.DefaultConfig()
	cfg.Address = vaultServer.Addr()
	cfg.MaxRetries = 0
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(harness.RootToken)
	return c, nil
}

// testLedger returns a new, empty erasure ledger in the package's Vault
// (started on first use), under a prefix of its own as the operator names
// them (erasures/ws-<name>-<uid>).
func testLedger(t testing.TB) *privacy.Ledger {
	t.Helper()
	vaultOnce.Do(startVault)
	if vaultErr != nil {
		t.Fatalf("%v (the harness needs bin/vault: run hack/build-tools.sh)", vaultErr)
	}
	c, err := vaultClient()
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("erasures/ws-acme-%d-%s", ledgerSeq.Add(1), strings.ToLower(rand.Text()[:12]))
	return privacy.NewLedger(c, ledgerMount, prefix)
}

// withLedger gives the fixture's server a new erasure ledger and returns it.
func (f *fixture) withLedger(t testing.TB) *privacy.Ledger {
	t.Helper()
	l := testLedger(t)
	f.srv.Ledger = l
	return l
}
