package dump_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/controllers/backup/artifact"
	"github.com/switchboard-dev/switchboard/controllers/backup/dump"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// tenant is a role and database made as the operator makes them, filled
// with rows by the role itself.
type tenant struct {
	pg  *harness.Postgres
	db  dump.Database
	key []byte
}

func newTenant(t *testing.T, pg *harness.Postgres, name string) *tenant {
	t.Helper()
	admin(t, pg, "CREATE ROLE "+name+" LOGIN PASSWORD 'pw-"+name+"-9f2c'")
	admin(t, pg, "CREATE DATABASE "+name+" OWNER "+name)
	admin(t, pg, "REVOKE ALL ON DATABASE "+name+" FROM PUBLIC")
	key := make([]byte, artifact.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return &tenant{pg: pg, key: key, db: dump.Database{Host: "127.0.0.1", Port: pg.Port, Name: name, User: name, Password: "pw-" + name + "-9f2c"}}
}

func admin(t *testing.T, pg *harness.Postgres, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (tn *tenant) conn(t *testing.T, db string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), tn.pg.DSN(tn.db.User, tn.db.Password, db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func (tn *tenant) header() artifact.Header {
	return artifact.Header{TransitKey: "ws-" + tn.db.Name + "-uid", KeyVersion: 1, WrappedKey: "vault:v1:" + strings.Repeat("A", 60), ChunkSize: 64 << 10}
}

func (tn *tenant) fill(t *testing.T) {
	t.Helper()
	c := tn.conn(t, tn.db.Name)
	for _, sql := range []string{
		`CREATE TABLE contacts (id bigserial PRIMARY KEY, name text NOT NULL, email text, created timestamptz DEFAULT now())`,
		`CREATE TABLE messages (id bigserial PRIMARY KEY, contact_id bigint REFERENCES contacts(id), body text NOT NULL)`,
		`CREATE SCHEMA crm`,
		`CREATE TABLE crm.deals (id bigserial PRIMARY KEY, value numeric(12,2))`,
		`INSERT INTO contacts (name, email) SELECT 'Contact ' || i, 'c' || i || '@example.com' FROM generate_series(1, 3000) i`,
		`INSERT INTO messages (contact_id, body) SELECT 1 + i % 3000, repeat('Hello, this is message ' || i || '. ', 1 + i % 7) FROM generate_series(1, 20000) i`,
		`INSERT INTO crm.deals (value) SELECT i * 1.5 FROM generate_series(1, 500) i`,
	} {
		if _, err := c.Exec(context.Background(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

// scratch is an empty database owned by the tenant's role, to restore into.
func (tn *tenant) scratch(t *testing.T, name string) dump.Database {
	t.Helper()
	admin(t, tn.pg, "CREATE DATABASE "+name+" OWNER "+tn.db.User)
	d := tn.db
	d.Name = name
	return d
}

func tables(t *testing.T, tn *tenant, db string) int {
	t.Helper()
	var n int
	if err := tn.conn(t, db).QueryRow(context.Background(),
		`SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDumpAndRestore(t *testing.T) {
	pg, err := harness.StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	ctx := context.Background()
	tn := newTenant(t, pg, "ws_acme")
	tn.fill(t)

	var buf bytes.Buffer
	res, err := dump.Dump(ctx, tn.db, dump.Options{Header: tn.header(), DataKey: tn.key}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"public.contacts": 3000, "public.messages": 20000, "crm.deals": 500}
	if d := dump.CountsDiffer(want, res.Metadata.RowCounts); len(d) > 0 {
		t.Fatalf("counted rows: %v", d)
	}
	sum := sha256.Sum256(buf.Bytes())
	if res.Size != int64(buf.Len()) || res.SHA256 != hex.EncodeToString(sum[:]) || res.DumpBytes == 0 {
		t.Fatalf("result = %+v, artifact %d bytes", res, buf.Len())
	}
	if bytes.Contains(buf.Bytes(), []byte("Contact 1")) || bytes.Contains(buf.Bytes(), []byte("PGDMP")) {
		t.Fatal("the artifact holds plaintext")
	}
	artifactBytes := buf.Bytes()

	t.Run("restores every row into a scratch database", func(t *testing.T) {
		dst := tn.scratch(t, "ws_acme_restore")
		meta, got, err := dump.Restore(ctx, dst, dump.RestoreOptions{DataKey: tn.key}, bytes.NewReader(artifactBytes))
		if err != nil {
			t.Fatal(err)
		}
		if d := dump.CountsDiffer(meta.RowCounts, got); len(d) > 0 {
			t.Fatalf("restored counts differ: %v", d)
		}
		var body, orig string
		if err := tn.conn(t, tn.db.Name).QueryRow(ctx, `SELECT body FROM messages WHERE id = 4243`).Scan(&orig); err != nil {
			t.Fatal(err)
		}
		if err := tn.conn(t, dst.Name).QueryRow(ctx, `SELECT body FROM messages WHERE id = 4243`).Scan(&body); err != nil || body != orig {
			t.Fatalf("message 4243 = %q, %v; want %q", body, err, orig)
		}
	})

	refused := []struct {
		name   string
		mangle func([]byte) []byte
		key    []byte
	}{
		{"a flipped bit in the middle", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }, tn.key},
		{"the last chunk cut off", func(b []byte) []byte { return b[:len(b)-100] }, tn.key},
		{"cut at half", func(b []byte) []byte { return b[:len(b)/2] }, tn.key},
		{"the wrong key", func(b []byte) []byte { return b }, make([]byte, artifact.KeySize)},
	}
	for i, tt := range refused {
		t.Run("refuses "+tt.name+", leaving nothing restored", func(t *testing.T) {
			dst := tn.scratch(t, fmt.Sprintf("ws_acme_bad%d", i))
			b := tt.mangle(bytes.Clone(artifactBytes))
			_, _, err := dump.Restore(ctx, dst, dump.RestoreOptions{DataKey: tt.key}, bytes.NewReader(b))
			if !errors.Is(err, artifact.ErrIntegrity) && !errors.Is(err, artifact.ErrWrongKey) {
				t.Fatalf("err = %v, want an integrity or wrong-key error", err)
			}
			if n := tables(t, tn, dst.Name); n != 0 {
				t.Fatalf("%d tables restored from a refused artifact", n)
			}
		})
	}

	t.Run("counts the rows of the snapshot it dumps, whatever is written meanwhile", func(t *testing.T) {
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		writer := tn.conn(t, tn.db.Name)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := writer.Exec(ctx, `INSERT INTO messages (contact_id, body) VALUES (1, 'during the dump')`); err != nil {
					return
				}
			}
		}()
		time.Sleep(50 * time.Millisecond)
		var b bytes.Buffer
		res, err := dump.Dump(ctx, tn.db, dump.Options{Header: tn.header(), DataKey: tn.key}, &b)
		stop.Store(true)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		dst := tn.scratch(t, "ws_acme_during")
		_, got, err := dump.Restore(ctx, dst, dump.RestoreOptions{DataKey: tn.key}, &b)
		if err != nil {
			t.Fatal(err)
		}
		if d := dump.CountsDiffer(res.Metadata.RowCounts, got); len(d) > 0 {
			t.Fatalf("the counts are not those of the dumped snapshot: %v", d)
		}
		if res.Metadata.RowCounts["public.messages"] <= 20000 {
			t.Log("no write landed before the snapshot; the check still holds")
		}
	})

	t.Run("holds pg_dump's output until the counts are known, within its bound, then streams the rest", func(t *testing.T) {
		const limit = 64 << 10
		full := make(chan struct{})
		var once sync.Once
		var most atomic.Int64
		defer dump.SetTestHooks(limit,
			func(ctx context.Context) error {
				// The counts wait until pg_dump's output fills the bound.
				select {
				case <-full:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Minute):
					return errors.New("pg_dump's output never filled the bound")
				}
			},
			func(held int) {
				most.Store(int64(held))
				if held >= limit {
					once.Do(func() { close(full) })
				}
			})()
		var b bytes.Buffer
		res, err := dump.Dump(ctx, tn.db, dump.Options{Header: tn.header(), DataKey: tn.key}, &b)
		if err != nil {
			t.Fatal(err)
		}
		if most.Load() != limit || res.DumpBytes <= limit {
			t.Fatalf("held %d bytes of %d before the counts, want exactly %d", most.Load(), res.DumpBytes, limit)
		}
		dst := tn.scratch(t, "ws_acme_held")
		_, got, err := dump.Restore(ctx, dst, dump.RestoreOptions{DataKey: tn.key}, &b)
		if err != nil {
			t.Fatal(err)
		}
		if d := dump.CountsDiffer(res.Metadata.RowCounts, got); len(d) > 0 {
			t.Fatalf("restored counts differ: %v", d)
		}
	})

	t.Run("a failed count stops pg_dump and writes nothing", func(t *testing.T) {
		defer dump.SetTestHooks(64<<10, func(context.Context) error { return errors.New("count refused") }, nil)()
		var b bytes.Buffer
		_, err := dump.Dump(ctx, tn.db, dump.Options{Header: tn.header(), DataKey: tn.key}, &b)
		if err == nil || !strings.Contains(err.Error(), "count refused") {
			t.Fatalf("err = %v, want the count's", err)
		}
		if b.Len() > 0 {
			t.Fatalf("%d bytes written without counts", b.Len())
		}
	})

	t.Run("a failed pg_dump is reported without waiting for the counts", func(t *testing.T) {
		stopped := make(chan error, 1)
		defer dump.SetTestHooks(64<<10, func(ctx context.Context) error {
			<-ctx.Done()
			stopped <- ctx.Err()
			return ctx.Err()
		}, nil)()
		var b bytes.Buffer
		_, err := dump.Dump(ctx, tn.db, dump.Options{Header: tn.header(), DataKey: tn.key, PgDump: "false"}, &b)
		if err == nil || !strings.Contains(err.Error(), "pg_dump of ws_acme failed: exit status 1") {
			t.Fatalf("err = %v, want pg_dump's failure", err)
		}
		select {
		case <-stopped:
		default:
			t.Fatal("Dump returned before the counts stopped")
		}
		if b.Len() > 0 {
			t.Fatalf("%d bytes written for a failed pg_dump", b.Len())
		}
	})

	t.Run("a refused login says so without the password", func(t *testing.T) {
		bad := tn.db
		bad.Password = "wrong-password-77"
		var b bytes.Buffer
		_, err := dump.Dump(ctx, bad, dump.Options{Header: tn.header(), DataKey: tn.key}, &b)
		if err == nil || strings.Contains(err.Error(), "wrong-password-77") || strings.Contains(err.Error(), tn.db.Password) {
			t.Fatalf("err = %v", err)
		}
		if b.Len() > 0 {
			t.Fatalf("%d bytes written for a dump that never started", b.Len())
		}
	})

	t.Run("the installed pg_dump and pg_restore fit this server", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, pg.AdminDSN())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var num int
		if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&num); err != nil {
			t.Fatal(err)
		}
		if err := dump.CheckTools(ctx, "pg_dump", "pg_restore", map[string]int{"local": num / 10000}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a failing pg_dump leaves no complete artifact", func(t *testing.T) {
		var b bytes.Buffer
		_, err := dump.Dump(ctx, tn.db, dump.Options{Header: tn.header(), DataKey: tn.key, PgDump: "false"}, &b)
		if err == nil {
			t.Fatal("a failed pg_dump gave no error")
		}
		h, herr := artifact.ReadHeader(bytes.NewReader(b.Bytes()))
		if herr == nil {
			r, _ := artifact.NewReader(bytes.NewReader(b.Bytes()[h.Len():]), h, tn.key)
			if r != nil {
				if _, rerr := new(bytes.Buffer).ReadFrom(r); !errors.Is(rerr, artifact.ErrIntegrity) {
					t.Fatalf("the artifact of a failed dump reads without error: %v", rerr)
				}
			}
		}
	})
}

func TestToolVersion(t *testing.T) {
	ctx := context.Background()
	v, err := dump.ToolVersion(ctx, "pg_dump")
	if err != nil || v < 15 {
		t.Fatalf("pg_dump version %d, %v", v, err)
	}
	if err := dump.CheckTool(ctx, "pg_dump", v); err != nil {
		t.Fatal(err)
	}
	if err := dump.CheckTool(ctx, "pg_dump", v+1); err == nil || !strings.Contains(err.Error(), "older than the server") {
		t.Fatalf("an older pg_dump passed: %v", err)
	}
	if _, err := dump.ToolVersion(ctx, "/nonexistent/pg_dump"); err == nil {
		t.Fatal("a missing pg_dump passed")
	}
}

// fakeTool is an executable that prints what pg_dump or pg_restore of
// version v prints for --version.
func fakeTool(t *testing.T, name, v string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho '"+name+" (PostgreSQL) "+v+" (Debian "+v+"-1.pgdg120+1)'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckTools(t *testing.T) {
	ctx := context.Background()
	dump15, dump16, dump17 := fakeTool(t, "pg_dump", "15.8"), fakeTool(t, "pg_dump", "16.4"), fakeTool(t, "pg_dump", "17.2")
	restore15, restore16, restore17 := fakeTool(t, "pg_restore", "15.8"), fakeTool(t, "pg_restore", "16.4"), fakeTool(t, "pg_restore", "17.2")
	tests := []struct {
		name              string
		pgDump, pgRestore string
		servers           map[string]int
		want              []string // each in the error; none: no error
	}{
		{name: "same version", pgDump: dump15, pgRestore: restore15, servers: map[string]int{"eu-1": 15}},
		{name: "newer tools, servers before 17", pgDump: dump16, pgRestore: restore16, servers: map[string]int{"eu-1": 15, "eu-2": 16}},
		{name: "17 for 17", pgDump: dump17, pgRestore: restore17, servers: map[string]int{"eu-1": 17}},
		{name: "no servers", pgDump: dump15, pgRestore: restore15},
		{name: "pg_dump missing", pgDump: "/nonexistent/pg_dump", pgRestore: restore15, servers: map[string]int{"eu-1": 15},
			want: []string{"pg_dump cannot be run", "/nonexistent/pg_dump"}},
		{name: "pg_restore missing", pgDump: dump15, pgRestore: "no-such-pg_restore", servers: map[string]int{"eu-1": 15},
			want: []string{"pg_restore cannot be run", "no-such-pg_restore"}},
		{name: "both missing", pgDump: "/nonexistent/pg_dump", pgRestore: "/nonexistent/pg_restore",
			want: []string{"pg_dump cannot be run", "pg_restore cannot be run"}},
		{name: "pg_dump older than a server", pgDump: dump15, pgRestore: restore16, servers: map[string]int{"eu-1": 15, "us-1": 16},
			want: []string{"pg_dump " + dump15 + " is version 15, older than server us-1 (PostgreSQL 16)"}},
		{name: "pg_restore older than pg_dump", pgDump: dump16, pgRestore: restore15, servers: map[string]int{"eu-1": 15},
			want: []string{"pg_restore " + restore15 + " is version 15, older than pg_dump " + dump16 + " (16)"}},
		{name: "pg_restore older than a server", pgDump: dump16, pgRestore: restore15, servers: map[string]int{"eu-1": 16},
			want: []string{"older than server eu-1 (PostgreSQL 16)"}},
		{name: "pg_restore 17 and a server 15", pgDump: dump17, pgRestore: restore17, servers: map[string]int{"eu-1": 17, "eu-2": 15},
			want: []string{"pg_restore " + restore17 + " is version 17, newer than server eu-2 (PostgreSQL 15): it sets transaction_timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := dump.CheckTools(ctx, tt.pgDump, tt.pgRestore, tt.servers)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one saying %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not say %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the error is not one line: %q", err)
			}
		})
	}
}
