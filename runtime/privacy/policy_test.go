package privacy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/switchboard-dev/switchboard/controllers/vault"
	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// TestTenantPolicy gives a runtime a token with the policy the operator
// writes for its workspace (vault.Client.TenantPolicy), and the operator
// its own (config/vault/operator-policy.hcl). The runtime erases and reads
// its ledger, and can do nothing else with it or with anyone else's; the
// operator reads and destroys ledgers but cannot write one.
func TestTenantPolicy(t *testing.T) {
	ctx := context.Background()
	n := seq.Add(1)
	ws, uid := fmt.Sprintf("acme%d", n), fmt.Sprintf("6f1c2d3e-0000-4000-8000-%012d", n)
	own := contract.LedgerPrefix(ws, uid)
	other := contract.LedgerPrefix(fmt.Sprintf("other%d", n), uid)
	if !strings.HasPrefix(own, "erasures/ws-"+ws+"-") {
		t.Fatalf("ledger prefix %q", own)
	}

	vc, err := vault.New(vault.Config{Address: vaultServer.Addr(), Token: harness.RootToken, KVMount: kvMount}, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := rootVault()
	if err := root.Sys().PutPolicy(contract.VaultName(ws), vc.TenantPolicy(contract.VaultSubtree(ws), own, uid, nil)); err != nil {
		t.Fatal(err)
	}
	// Someone else's ledger, with an entry.
	if err := NewLedger(root, kvMount, other).Append(ctx, entry(1)); err != nil {
		t.Fatal(err)
	}
	// A runtime's Kubernetes login gets the default policy too.
	tok, err := root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{contract.VaultName(ws), "default"}})
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := vaultClient(t, tok.Auth.ClientToken)
	runtime := NewLedger(rc, kvMount, own)

	st, _ := newDB(t)
	w := newWorld(t, st.Pool)
	if _, err := Erase(ctx, st.Pool, runtime, Entry{Kind: KindContact, SubjectID: w.alice, RequestID: "dsr-20"}); err != nil {
		t.Fatalf("the runtime cannot erase with its own ledger: %v", err)
	}
	runtime.batchSize = 1 // so that the next append seals a batch: it writes the head
	if err := runtime.Append(ctx, entry(2)); err != nil {
		t.Fatalf("the runtime cannot start a batch: %v", err)
	}
	if e, err := runtime.Since(ctx, time.Time{}); err != nil || len(e) != 2 {
		t.Fatalf("the runtime reads its ledger: %d entries, %v; want 2", len(e), err)
	}

	denied := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("the runtime could %s: %v", what, err)
		}
	}
	_, err = runtime.Destroy(ctx)
	denied("list (and so destroy) its ledger", err)
	denied("destroy an entry of its ledger", rc.KVv2(kvMount).DeleteMetadata(ctx, own+"/key"))
	denied("delete an entry of its ledger", rc.KVv2(kvMount).Delete(ctx, own+"/key"))
	denied("append to another workspace's ledger", NewLedger(rc, kvMount, other).Append(ctx, entry(3)))
	_, err = NewLedger(rc, kvMount, other).Since(ctx, time.Time{})
	denied("read another workspace's ledger", err)
	_, err = rc.KVv2(kvMount).Put(ctx, own, map[string]any{"x": "y"})
	denied("write the ledger's own path, outside its prefix", err)
	_, err = rc.KVv2(kvMount).Put(ctx, contract.VaultSubtree(ws)+"/database", map[string]any{"x": "y"})
	denied("write its subtree", err)

	t.Run("the operator reads and destroys, and does not write", func(t *testing.T) {
		oc, _ := vaultClient(t, harness.OperatorToken)
		op := NewLedger(oc, kvMount, own)
		if e, err := op.Since(ctx, time.Time{}); err != nil || len(e) != 2 {
			t.Fatalf("the operator reads the ledger: %d entries, %v", len(e), err)
		}
		if key, err := op.hmacKey(ctx, false); err != nil || key == nil {
			t.Fatalf("the operator reads the ledger's key: %v", err)
		}
		if err := op.Append(ctx, entry(4)); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("the operator could append: %v", err)
		}
		if n, err := op.Destroy(ctx); err != nil || n != 4 { // key, head, two batches
			t.Errorf("the operator destroys the ledger: %d, %v; want 4", n, err)
		}
	})
}
