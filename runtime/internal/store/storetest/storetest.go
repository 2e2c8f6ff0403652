// Package storetest gives tests a migrated database of their own on a real
// PostgreSQL, started once per test binary by the harness.
package storetest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/test/harness"
)

var (
	once   sync.Once
	server *harness.Postgres
	err    error
	seq    atomic.Int64
)

// Server returns the package's PostgreSQL server, starting it on first use.
// Call Main from TestMain to stop it when the tests end.
func Server(t testing.TB) *harness.Postgres {
	t.Helper()
	once.Do(func() { server, err = harness.StartPostgres() })
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	return server
}

// Main runs the tests and stops the server, pass or fail, after running
// the package's own cleanups (after), such as stopping its Vault.
func Main(m *testing.M, after ...func()) {
	code := m.Run()
	for _, f := range after {
		f()
	}
	if server != nil {
		server.Close()
	}
	os.Exit(code)
}

// NewDB creates an empty database, applies the migrations and returns a Store on it.
func NewDB(t testing.TB) *store.Store {
	t.Helper()
	st, _ := NewDBWithDSN(t)
	return st
}

// NewDBWithDSN is NewDB, also returning the database's DSN.
func NewDBWithDSN(t testing.TB) (*store.Store, string) {
	t.Helper()
	pg := Server(t)
	ctx := context.Background()
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), seq.Add(1))
	admin, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	dsn := pg.DSN("postgres", "", name)
	st, err := store.Open(ctx, dsn, 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st, dsn
}
