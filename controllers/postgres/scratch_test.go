package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/controllers/config"
	"github.com/switchboard-dev/switchboard/controllers/external"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// pg is the package's PostgreSQL server, started once by TestMain.
var pg *harness.Postgres

func TestMain(m *testing.M) {
	var err error
	if pg, err = harness.StartPostgres(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Close()
	os.Exit(code)
}

const server = "local"

// fixture is a Provisioner on the test server that counts its writes.
type fixture struct {
	*Provisioner
	writes atomic.Int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	f.Provisioner = New(map[string]config.DatabaseServer{server: {Name: server, AdminDSN: pg.AdminDSN()}}, func(string) { f.writes.Add(1) })
	t.Cleanup(f.Close)
	return f
}

// tenant provisions a tenant as the Workspace reconciler does, and returns
// it with its password.
func (f *fixture) tenant(t *testing.T, name, uid string) (Tenant, string) {
	t.Helper()
	tn := Tenant{Name: name, Claim: external.Claim{UID: uid}, Limits: Limits{Connections: 20, StatementTimeout: time.Minute, IdleInTransactionTimeout: time.Minute}}
	ctx := context.Background()
	if _, err := f.EnsureDatabase(ctx, server, tn); err != nil {
		t.Fatal(err)
	}
	pw := "pw-" + name + "-7c1e"
	if err := f.SetPassword(ctx, server, name, pw); err != nil {
		t.Fatal(err)
	}
	return tn, pw
}

func admin(t *testing.T, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// dbInfo reads a database as the operator does.
func (f *fixture) dbInfo(t *testing.T, name string) dbState {
	t.Helper()
	pool, err := f.pool(server)
	if err != nil {
		t.Fatal(err)
	}
	st, err := databaseState(context.Background(), pool, name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// exec runs sql in db as the tenant.
func exec(t *testing.T, tn Tenant, pw, db, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pg.DSN(tn.Name, pw, db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// version reads the one row of table v in db, as the tenant.
func version(t *testing.T, tn Tenant, pw, db string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pg.DSN(tn.Name, pw, db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(context.Background(), "SELECT v FROM v").Scan(&v); err != nil {
		t.Fatalf("reading table v of %s: %v", db, err)
	}
	return v
}

func TestScratchName(t *testing.T) {
	long := "ws_" + strings.Repeat("a", 50) // the longest Workspace name gives 53 bytes
	tests := []struct {
		name, purpose, want string
	}{
		{"ws_acme", ScratchRestore, "ws_acme_restore"},
		{"ws_acme", ScratchVerify, "ws_acme_verify"},
		{"ws_acme", scratchPreRestore, "ws_acme_pre_restore"},
		{long, ScratchRestore, long + "_restore"}, // 61 bytes: fits
		{long[:51], scratchPreRestore, long[:51] + "_pre_restore"},
	}
	for _, tt := range tests {
		if got := scratchName(tt.name, tt.purpose); got != tt.want {
			t.Errorf("scratchName(%q, %q) = %q, want %q", tt.name, tt.purpose, got, tt.want)
		}
	}
	// Too long for <name>_pre_restore: cut short, with a hash of the whole name.
	a, b := scratchName(long, scratchPreRestore), scratchName(long[:52]+"b", scratchPreRestore)
	for _, n := range []string{a, b} {
		if len(n) > maxIdentifier || !strings.HasSuffix(n, "_pre_restore") || !strings.HasPrefix(n, long[:40]) {
			t.Errorf("scratch name %q (%d bytes): want at most 63 bytes, the name's start and _pre_restore", n, len(n))
		}
	}
	if a == b || a != scratchName(long, scratchPreRestore) {
		t.Errorf("long scratch names must be distinct per tenant and stable: %q, %q", a, b)
	}
	if n := scratchName(strings.Repeat("é", 30), scratchPreRestore); len(n) > maxIdentifier || !strings.HasPrefix(n, "é") || strings.ToValidUTF8(n, "?") != n {
		t.Errorf("scratch name %q: not cut at a character boundary", n)
	}
}

func TestScratchMark(t *testing.T) {
	const uid = "6f1d2a9e-0000-4c3b-9a57-1b2c3d4e5f60"
	mark, err := scratchMarkComment(uid, ScratchRestore)
	if err != nil {
		t.Fatal(err)
	}
	if want := "'switchboard workspace-uid=" + uid + " scratch=restore'"; mark != want {
		t.Fatalf("mark = %s, want %s", mark, want)
	}
	comment := strings.Trim(mark, "'")
	if u, p, ok := scratchMarkOf(comment); !ok || u != uid || p != ScratchRestore {
		t.Fatalf("scratchMarkOf(%q) = %q, %q, %v", comment, u, p, ok)
	}
	// No claim takes a scratch database for a live one, not even one that
	// adopts unmarked objects.
	for _, c := range []external.Claim{{UID: uid}, {UID: "other", AdoptFrom: external.AdoptUnmarked}, {UID: "other", AdoptFrom: uid}} {
		if c.Accepts(markOf(comment)) {
			t.Errorf("claim %+v accepts the scratch mark as a live mark", c)
		}
	}
	for _, c := range []string{
		"switchboard workspace-uid=" + uid, // live
		"switchboard workspace-uid=" + uid + " scratch=backup",
		"switchboard workspace-uid=" + uid + " scratch=",
		"switchboard workspace-uid=not a uid scratch=restore",
		"hand-made scratch=restore",
		"",
	} {
		if _, _, ok := scratchMarkOf(c); ok {
			t.Errorf("scratchMarkOf(%q) is a scratch mark", c)
		}
	}
	if _, err := scratchMarkComment("x'; DROP", ScratchRestore); err == nil {
		t.Error("a UID that is not one must not reach a COMMENT")
	}
}

func TestServerMajorVersion(t *testing.T) {
	f := newFixture(t)
	got, err := f.ServerMajorVersion(context.Background(), server)
	if err != nil {
		t.Fatal(err)
	}
	var v string
	conn, err := pgx.Connect(context.Background(), pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), "SHOW server_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if want, _, _ := strings.Cut(v, "."); fmt.Sprint(got) != want || got < 15 {
		t.Fatalf("ServerMajorVersion = %d, server_version %s", got, v)
	}
	if _, err := f.ServerMajorVersion(context.Background(), "nowhere"); !errors.Is(err, ErrUnknownServer) {
		t.Fatalf("unknown server: %v", err)
	}
}

func TestCreateScratch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tn, pw := f.tenant(t, "ws_scr_create", "11111111-aaaa-4aaa-8aaa-000000000001")

	before := f.writes.Load()
	name, err := f.CreateScratch(ctx, server, tn, ScratchRestore)
	if err != nil {
		t.Fatal(err)
	}
	if name != "ws_scr_create_restore" {
		t.Fatalf("name = %s", name)
	}
	if n := f.writes.Load() - before; n != 3 {
		t.Errorf("%d writes, want 3 (CREATE, COMMENT, REVOKE)", n)
	}
	st := f.dbInfo(t, name)
	if st.owner != tn.Name || st.comment != "switchboard workspace-uid="+tn.UID+" scratch=restore" {
		t.Fatalf("scratch database = %+v", st)
	}
	var public bool
	conn, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT has_database_privilege('public', $1, 'CONNECT') OR has_database_privilege('public', $1, 'TEMPORARY')`, name).Scan(&public); err != nil || public {
		t.Fatalf("PUBLIC may connect to the scratch database (%v)", err)
	}

	t.Run("a leftover of ours is dropped and made anew", func(t *testing.T) {
		exec(t, tn, pw, name, "CREATE TABLE v (v text); INSERT INTO v VALUES ('half-restored')")
		// A session left open by a crashed restore does not stop it.
		c, err := pgx.Connect(ctx, pg.DSN(tn.Name, pw, name))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if _, err := f.CreateScratch(ctx, server, tn, ScratchRestore); err != nil {
			t.Fatal(err)
		}
		var n int
		c2, err := pgx.Connect(ctx, pg.DSN(tn.Name, pw, name))
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close(ctx)
		if err := c2.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'v'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the scratch database is not empty: %d tables v, %v", n, err)
		}
	})

	t.Run("verify has its own name", func(t *testing.T) {
		v, err := f.CreateScratch(ctx, server, tn, ScratchVerify)
		if err != nil || v != "ws_scr_create_verify" {
			t.Fatalf("CreateScratch(verify) = %s, %v", v, err)
		}
	})

	t.Run("anything else under the name is refused and kept", func(t *testing.T) {
		other, _ := f.tenant(t, "ws_scr_other", "11111111-aaaa-4aaa-8aaa-000000000002")
		for _, tc := range []struct{ name, comment string }{
			{"unmarked", ""},
			{"another Workspace's scratch", "switchboard workspace-uid=" + other.UID + " scratch=restore"},
			{"another Workspace's live database", "switchboard workspace-uid=" + other.UID},
			{"our verify mark under the restore name", "switchboard workspace-uid=" + tn.UID + " scratch=verify"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				admin(t, "DROP DATABASE IF EXISTS ws_scr_create_restore WITH (FORCE)")
				admin(t, "CREATE DATABASE ws_scr_create_restore OWNER "+tn.Name)
				if tc.comment != "" {
					admin(t, "COMMENT ON DATABASE ws_scr_create_restore IS '"+tc.comment+"'")
				}
				exec(t, tn, pw, "ws_scr_create_restore", "CREATE TABLE v (v text); INSERT INTO v VALUES ('precious')")
				before := f.writes.Load()
				_, err := f.CreateScratch(ctx, server, tn, ScratchRestore)
				if !external.IsConflict(err) || !strings.Contains(err.Error(), "ws_scr_create_restore") {
					t.Fatalf("CreateScratch = %v, want a conflict", err)
				}
				if err := f.DropScratch(ctx, server, tn, "ws_scr_create_restore"); !external.IsConflict(err) {
					t.Fatalf("DropScratch = %v, want a conflict", err)
				}
				if n := f.writes.Load() - before; n != 0 {
					t.Fatalf("%d writes", n)
				}
				if v := version(t, tn, pw, "ws_scr_create_restore"); v != "precious" {
					t.Fatalf("the database was touched: %q", v)
				}
			})
		}
		admin(t, "DROP DATABASE ws_scr_create_restore WITH (FORCE)")
	})

	t.Run("a role that is not the Workspace's", func(t *testing.T) {
		foreign := tn
		foreign.UID = "11111111-aaaa-4aaa-8aaa-0000000000ff"
		if _, err := f.CreateScratch(ctx, server, foreign, ScratchRestore); !external.IsConflict(err) {
			t.Fatalf("CreateScratch for another UID = %v, want a conflict", err)
		}
		missing := Tenant{Name: "ws_scr_nobody", Claim: external.Claim{UID: tn.UID}}
		if _, err := f.CreateScratch(ctx, server, missing, ScratchRestore); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("CreateScratch without a role = %v", err)
		}
		if _, err := f.CreateScratch(ctx, server, tn, "pre_restore"); err == nil {
			t.Fatal("CreateScratch made a pre_restore database")
		}
	})

	t.Run("DropScratch", func(t *testing.T) {
		before := f.writes.Load()
		if err := f.DropScratch(ctx, server, tn, "ws_scr_create_verify"); err != nil {
			t.Fatal(err)
		}
		if n := f.writes.Load() - before; n != 1 {
			t.Errorf("%d writes, want 1", n)
		}
		if st := f.dbInfo(t, "ws_scr_create_verify"); st.exists {
			t.Fatal("not dropped")
		}
		if err := f.DropScratch(ctx, server, tn, "ws_scr_create_verify"); err != nil {
			t.Fatalf("dropping a missing scratch database: %v", err)
		}
		if err := f.DropScratch(ctx, server, tn, tn.Name); err == nil {
			t.Fatal("DropScratch accepted the live database's name")
		}
		if st := f.dbInfo(t, tn.Name); !st.exists {
			t.Fatal("the live database is gone")
		}
	})

	t.Run("a scratch database under the live name is never adopted", func(t *testing.T) {
		for i, c := range []external.Claim{
			{UID: tn.UID},
			{UID: "11111111-aaaa-4aaa-8aaa-000000000003", AdoptFrom: external.AdoptUnmarked},
			{UID: "11111111-aaaa-4aaa-8aaa-000000000004", AdoptFrom: tn.UID},
		} {
			// As if someone renamed a scratch database to a tenant's name.
			name := fmt.Sprintf("ws_scr_adopt%d", i)
			admin(t, "CREATE DATABASE "+name)
			admin(t, "COMMENT ON DATABASE "+name+" IS 'switchboard workspace-uid="+tn.UID+" scratch=restore'")
			_, err := f.EnsureDatabase(ctx, server, Tenant{Name: name, Claim: c, Limits: tn.Limits})
			if !external.IsConflict(err) || !strings.Contains(err.Error(), "scratch database (restore)") {
				t.Fatalf("EnsureDatabase over a scratch database, claim %+v: %v", c, err)
			}
			if st := f.dbInfo(t, name); st.owner == name || !strings.HasSuffix(st.comment, "scratch=restore") {
				t.Fatalf("the scratch database was taken over: %+v", st)
			}
		}
	})
}

func TestSwapIn(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tn, pw := f.tenant(t, "ws_scr_swap", "22222222-bbbb-4bbb-8bbb-000000000001")
	exec(t, tn, pw, tn.Name, "CREATE TABLE v (v text); INSERT INTO v VALUES ('old')")
	liveComment := "switchboard workspace-uid=" + tn.UID

	restored := func(t *testing.T, v string) string {
		t.Helper()
		name, err := f.CreateScratch(ctx, server, tn, ScratchRestore)
		if err != nil {
			t.Fatal(err)
		}
		exec(t, tn, pw, name, "CREATE TABLE v (v text); INSERT INTO v VALUES ('"+v+"')")
		return name
	}

	t.Run("swaps the restored database in, sessions or not", func(t *testing.T) {
		scratch := restored(t, "new")
		// Sessions on both, and a runtime that keeps reconnecting.
		for _, db := range []string{tn.Name, scratch} {
			c, err := pgx.Connect(ctx, pg.DSN(tn.Name, pw, db))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var seen sync.Map
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := pgx.Connect(ctx, pg.DSN(tn.Name, pw, tn.Name))
				if err != nil {
					continue // the database is being swapped
				}
				var v string
				if err := c.QueryRow(ctx, "SELECT v FROM v").Scan(&v); err == nil {
					seen.Store(v, true)
				}
				c.Close(ctx)
			}
		}()
		time.Sleep(200 * time.Millisecond)
		before := f.writes.Load()
		err := f.SwapIn(ctx, server, tn, scratch)
		time.Sleep(200 * time.Millisecond)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if n := f.writes.Load() - before; n != 2 {
			t.Errorf("%d writes, want 2 (the renames' transaction, the drop)", n)
		}
		if v := version(t, tn, pw, tn.Name); v != "new" {
			t.Fatalf("live database holds %q, want the restored one", v)
		}
		if _, ok := seen.Load("new"); !ok {
			t.Error("the reconnecting runtime never saw the restored database")
		}
		if st := f.dbInfo(t, tn.Name); st.comment != liveComment || st.owner != tn.Name {
			t.Fatalf("live database = %+v", st)
		}
		for _, n := range []string{scratch, "ws_scr_swap_pre_restore"} {
			if f.dbInfo(t, n).exists {
				t.Errorf("%s is left", n)
			}
		}
		// The swapped-in database is exactly what EnsureDatabase wants.
		before = f.writes.Load()
		if _, err := f.EnsureDatabase(ctx, server, tn); err != nil {
			t.Fatal(err)
		}
		if n := f.writes.Load() - before; n != 0 {
			t.Errorf("EnsureDatabase after the swap wrote %d times", n)
		}
	})

	t.Run("a retry after a completed swap", func(t *testing.T) {
		err := f.SwapIn(ctx, server, tn, "ws_scr_swap_restore")
		if !errors.Is(err, ErrScratchMissing) {
			t.Fatalf("SwapIn = %v, want ErrScratchMissing", err)
		}
		if v := version(t, tn, pw, tn.Name); v != "new" {
			t.Fatalf("live database holds %q", v)
		}
	})

	// The states a crash can leave, made by hand.
	preMark := "'switchboard workspace-uid=" + tn.UID + " scratch=pre_restore'"
	t.Run("the swap committed but the old database was not dropped", func(t *testing.T) {
		admin(t, "CREATE DATABASE ws_scr_swap_pre_restore OWNER "+tn.Name)
		admin(t, "COMMENT ON DATABASE ws_scr_swap_pre_restore IS "+preMark)
		if err := f.SwapIn(ctx, server, tn, "ws_scr_swap_restore"); err != nil {
			t.Fatal(err)
		}
		if f.dbInfo(t, "ws_scr_swap_pre_restore").exists || version(t, tn, pw, tn.Name) != "new" {
			t.Fatal("the swap did not converge")
		}
	})

	t.Run("the live name is missing: the swap is finished", func(t *testing.T) {
		scratch := restored(t, "newer")
		admin(t, "ALTER DATABASE ws_scr_swap RENAME TO ws_scr_swap_pre_restore")
		admin(t, "COMMENT ON DATABASE ws_scr_swap_pre_restore IS "+preMark)
		if err := f.SwapIn(ctx, server, tn, scratch); err != nil {
			t.Fatal(err)
		}
		if v := version(t, tn, pw, tn.Name); v != "newer" {
			t.Fatalf("live database holds %q", v)
		}
		if f.dbInfo(t, "ws_scr_swap_pre_restore").exists || f.dbInfo(t, scratch).exists {
			t.Fatal("left databases behind")
		}
		if st := f.dbInfo(t, tn.Name); st.comment != liveComment {
			t.Fatalf("live comment %q", st.comment)
		}
	})

	t.Run("only the old database is left: it is put back", func(t *testing.T) {
		admin(t, "ALTER DATABASE ws_scr_swap RENAME TO ws_scr_swap_pre_restore")
		admin(t, "COMMENT ON DATABASE ws_scr_swap_pre_restore IS "+preMark)
		err := f.SwapIn(ctx, server, tn, "ws_scr_swap_restore")
		if !errors.Is(err, ErrScratchMissing) || !strings.Contains(err.Error(), "back under its name") {
			t.Fatalf("SwapIn = %v", err)
		}
		if v := version(t, tn, pw, tn.Name); v != "newer" {
			t.Fatalf("live database holds %q", v)
		}
		if st := f.dbInfo(t, tn.Name); st.comment != liveComment {
			t.Fatalf("live comment %q", st.comment)
		}
	})

	t.Run("nothing is swapped with a database that is not ours", func(t *testing.T) {
		scratch := restored(t, "newest")
		for _, tc := range []struct {
			name       string
			setup, fix string
		}{
			{"live database of another UID",
				"COMMENT ON DATABASE ws_scr_swap IS 'switchboard workspace-uid=22222222-bbbb-4bbb-8bbb-0000000000ff'",
				"COMMENT ON DATABASE ws_scr_swap IS '" + liveComment + "'"},
			{"scratch database unmarked",
				"COMMENT ON DATABASE ws_scr_swap_restore IS NULL",
				"COMMENT ON DATABASE ws_scr_swap_restore IS 'switchboard workspace-uid=" + tn.UID + " scratch=restore'"},
			{"pre_restore name taken by another database",
				"CREATE DATABASE ws_scr_swap_pre_restore",
				"DROP DATABASE ws_scr_swap_pre_restore"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				admin(t, tc.setup)
				defer admin(t, tc.fix)
				before := f.writes.Load()
				if err := f.SwapIn(ctx, server, tn, scratch); !external.IsConflict(err) {
					t.Fatalf("SwapIn = %v, want a conflict", err)
				}
				if n := f.writes.Load() - before; n != 0 {
					t.Fatalf("%d writes", n)
				}
				if v := version(t, tn, pw, tn.Name); v != "newer" {
					t.Fatalf("live database holds %q", v)
				}
			})
		}
		if err := f.SwapIn(ctx, server, tn, "ws_other_restore"); err == nil {
			t.Fatal("SwapIn took a database that is no scratch name of the tenant")
		}
		if err := f.DropScratch(ctx, server, tn, scratch); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDropRemovesScratchDatabases(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tn, _ := f.tenant(t, "ws_scr_drop", "33333333-cccc-4ccc-8ccc-000000000001")
	for _, purpose := range []string{ScratchRestore, ScratchVerify} {
		if _, err := f.CreateScratch(ctx, server, tn, purpose); err != nil {
			t.Fatal(err)
		}
	}
	admin(t, "CREATE DATABASE ws_scr_drop_pre_restore OWNER ws_scr_drop")
	admin(t, "COMMENT ON DATABASE ws_scr_drop_pre_restore IS 'switchboard workspace-uid="+tn.UID+" scratch=pre_restore'")
	// Not the tenant's, though named like its databases.
	admin(t, "CREATE DATABASE ws_scr_drop_restore_2")
	admin(t, "COMMENT ON DATABASE ws_scr_drop_restore_2 IS 'switchboard workspace-uid="+tn.UID+" scratch=restore'")
	other, _ := f.tenant(t, "ws_scr_drop_verify_x", "33333333-cccc-4ccc-8ccc-000000000002")

	dropped, err := f.Drop(ctx, server, tn)
	if err != nil {
		t.Fatal(err)
	}
	if !dropped.Database || !dropped.Role || len(dropped.Kept) != 0 ||
		strings.Join(dropped.Scratch, ",") != "ws_scr_drop_pre_restore,ws_scr_drop_restore,ws_scr_drop_verify" {
		t.Fatalf("Drop = %+v", dropped)
	}
	for _, n := range []string{"ws_scr_drop", "ws_scr_drop_restore", "ws_scr_drop_verify", "ws_scr_drop_pre_restore"} {
		if f.dbInfo(t, n).exists {
			t.Errorf("%s is left", n)
		}
	}
	for _, n := range []string{"ws_scr_drop_restore_2", other.Name} {
		if !f.dbInfo(t, n).exists {
			t.Errorf("%s was dropped", n)
		}
	}

	t.Run("another Workspace's database under a scratch name is kept", func(t *testing.T) {
		tn, _ := f.tenant(t, "ws_scr_keep", "33333333-cccc-4ccc-8ccc-000000000003")
		// The live database of a Workspace named "scr-keep-restore".
		admin(t, "CREATE DATABASE ws_scr_keep_restore")
		admin(t, "COMMENT ON DATABASE ws_scr_keep_restore IS 'switchboard workspace-uid=33333333-cccc-4ccc-8ccc-000000000004'")
		dropped, err := f.Drop(ctx, server, tn)
		if err != nil {
			t.Fatal(err)
		}
		if !dropped.Database || !dropped.Role || len(dropped.Scratch) != 0 || len(dropped.Kept) != 1 ||
			!strings.Contains(dropped.Kept[0], "ws_scr_keep_restore") || !strings.Contains(dropped.Kept[0], "left untouched") {
			t.Fatalf("Drop = %+v", dropped)
		}
		if !f.dbInfo(t, "ws_scr_keep_restore").exists {
			t.Fatal("another Workspace's database was dropped")
		}
	})
}
