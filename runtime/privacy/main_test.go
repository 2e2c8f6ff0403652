package privacy

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// The package's PostgreSQL and Vault, started once by TestMain.
var (
	pgServer    *harness.Postgres
	vaultServer *harness.Vault
	seq         atomic.Int64
)

const kvMount = "switchboard"

func TestMain(m *testing.M) {
	code, err := runTests(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func runTests(m *testing.M) (int, error) {
	var err error
	if pgServer, err = harness.StartPostgres(); err != nil {
		return 1, fmt.Errorf("starting PostgreSQL: %w", err)
	}
	defer pgServer.Close()
	if vaultServer, err = harness.StartVault(); err != nil {
		return 1, fmt.Errorf("starting Vault: %w", err)
	}
	defer vaultServer.Close()
	// The operator's default KV mount; Vault's dev server has only secret/.
	if err := rootVault().Sys().Mount(kvMount, &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		return 1, fmt.Errorf("mounting %s: %w", kvMount, err)
	}
	return m.Run(), nil
}

// vaultClient is a client of the test Vault with token, counting the
// requests it makes.
func vaultClient(t testing.TB, token string) (*vaultapi.Client, *counter) {
	t.Helper()
	cfg := vaultapi.DefaultConfig()
	cfg.Address = vaultServer.Addr()
	cfg.MaxRetries = 0
	n := &counter{base: cfg.HttpClient.Transport, reqs: map[string]int{}}
	cfg.HttpClient.Transport = n
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c, n
}

func rootVault() *vaultapi.Client {
	c, err := vaultapi.NewClient(&vaultapi.Config{Address: vaultServer.Addr()})
	if err != nil {
		panic(err)
	}
	c.SetToken(harness.RootToken)
	return c
}

// counter counts requests by method and path.
type counter struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs map[string]int
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs[r.Method+" "+r.URL.Path]++
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

// reads returns how many GETs went to paths under prefix, and clears the count.
func (c *counter) reads(prefix string) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, n := range c.reqs {
		if p, ok := strings.CutPrefix(k, "GET /v1/"); ok && strings.HasPrefix(p, prefix) {
			out[strings.TrimPrefix(p, prefix)] = n
		}
	}
	clear(c.reqs)
	return out
}

// ledgerPrefix is a new ledger's prefix, as the operator names it.
func ledgerPrefix(name string) string {
	return fmt.Sprintf("erasures/ws-%s-%d-%s", name, seq.Add(1), strings.ToLower(rand.Text()[:12]))
}

// newLedger is a new, empty ledger written with the root token.
func newLedger(t testing.TB, name string) *Ledger {
	c, _ := vaultClient(t, harness.RootToken)
	return NewLedger(c, kvMount, ledgerPrefix(name))
}

// newDB creates a database, applies the runtime's migrations and returns a
// Store on it, with the database's name.
func newDB(t testing.TB) (*store.Store, string) {
	t.Helper()
	name := fmt.Sprintf("privacy_%d_%d", os.Getpid(), seq.Add(1))
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgServer.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	st := openDB(t, name)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st, name
}

func openDB(t testing.TB, name string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), pgServer.DSN("postgres", "", name), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// copyDB copies database src, which nobody may be connected to, as a
// restore from a backup taken now would bring it back.
func copyDB(t testing.TB, src string) *store.Store {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("%s_copy_%d", src, seq.Add(1))
	admin, err := pgx.Connect(ctx, pgServer.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// The closed pool's sessions may take a moment to end.
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		_, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{src}.Sanitize())
		if err == nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal(err)
		}
	}
	return openDB(t, name)
}
