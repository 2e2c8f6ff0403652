package retention

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// The package's PostgreSQL, started once by TestMain.
var (
	pgServer *harness.Postgres
	seq      atomic.Int64
	bg       = context.Background()
)

func TestMain(m *testing.M) {
	var err error
	if pgServer, err = harness.StartPostgres(); err != nil {
		fmt.Fprintln(os.Stderr, "starting PostgreSQL:", err)
		os.Exit(1)
	}
	code := m.Run()
	pgServer.Close()
	os.Exit(code)
}

func admin(t testing.TB, sql string) {
	t.Helper()
	c, err := pgx.Connect(bg, pgServer.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(bg)
	// A template's last sessions may take a moment to end.
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		_, err := c.Exec(bg, sql)
		if err == nil {
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

// newDB creates a migrated database, or a copy of template, and returns a
// Store on it with its name.
func newDB(t testing.TB, template string) (*store.Store, string) {
	t.Helper()
	name := fmt.Sprintf("retention_%d_%d", os.Getpid(), seq.Add(1))
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	admin(t, sql)
	st, err := store.Open(bg, pgServer.DSN("postgres", "", name), 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if template == "" {
		if err := st.Migrate(bg); err != nil {
			t.Fatal(err)
		}
	}
	return st, name
}

func exec(t testing.TB, q store.Querier, sql string, args ...any) {
	t.Helper()
	if _, err := q.Exec(bg, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func id(t testing.TB, q store.Querier, sql string, args ...any) int64 {
	t.Helper()
	var v int64
	if err := q.QueryRow(bg, sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func ids64(t testing.TB, q store.Querier, sql string, args ...any) []int64 {
	t.Helper()
	rows, err := q.Query(bg, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return out
}
