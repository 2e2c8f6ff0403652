// Command retention measures retention's purge (runtime/privacy/retention)
// against a real PostgreSQL: 1,000,000 expired messages, with a delivery
// event each and an attachment on one in ten, are deleted by Enforce (the
// conversations category) while the inbox list is requested from a running
// runtime, over its JSON API, in a loop. It prints how long the purge took,
// its batches and the longest (no row lock of the purge is held longer), and
// the inbox list's latency without the purge and during it.
//
//	go run ./bench/retention [-messages 1000000] [-live 100000]
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard-dev/switchboard/runtime/privacy/retention"
	"github.com/switchboard-dev/switchboard/test/harness"
)

func main() {
	messages := flag.Int("messages", 1000000, "expired messages to purge")
	live := flag.Int("live", 100000, "recent messages the inbox lists, which stay")
	flag.Parse()
	if err := run(*messages, *live); err != nil {
		fmt.Fprintln(os.Stderr, "bench: "+err.Error())
		os.Exit(1)
	}
}

func run(messages, live int) error {
	ctx := context.Background()
	root, err := harness.Root()
	if err != nil {
		return err
	}
	bin := filepath.Join(root, "bin", "switchboard-runtime")
	fmt.Fprintln(os.Stderr, "bench: building bin/switchboard-runtime")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./runtime/cmd/switchboard-runtime")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "bench: starting PostgreSQL and Vault")
	pg, err := harness.StartPostgres()
	if err != nil {
		return err
	}
	defer pg.Close()
	v, err := harness.StartVault()
	if err != nil {
		return err
	}
	defer v.Close()
	admin, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE bench"); err != nil {
		return err
	}
	admin.Close(ctx)
	dsn := pg.DSN("postgres", "", "bench")
	vc, _ := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
	vc.SetToken(harness.RootToken)
	if err := vc.Sys().Mount("switchboard", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		return err
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("bench-password-1"), 10)
	kv := vc.KVv2("switchboard")
	if _, err := kv.Put(ctx, "workspaces/bench/database", map[string]any{"dsn": dsn}); err != nil {
		return err
	}
	if _, err := kv.Put(ctx, "workspaces/bench/bootstrap", map[string]any{"email": "owner@bench.example", "passwordHash": string(hash), "mustChangePassword": "false"}); err != nil {
		return err
	}

	// The runtime migrates the database as it starts.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin)
	cmd.Env = []string{"SWITCHBOARD_WORKSPACE=bench", "SWITCHBOARD_PUBLIC_URL=http://bench.test", "SWITCHBOARD_LISTEN_ADDR=" + addr,
		"VAULT_ADDR=" + v.Addr(), "VAULT_TOKEN=" + harness.RootToken, "SWITCHBOARD_VAULT_PATH=workspaces/bench"}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	for t0 := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(t0) > 60*time.Second {
			return fmt.Errorf("the runtime did not become ready")
		}
	}

	token := "sbt_bench_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	sum := sha256.Sum256([]byte(token))
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `INSERT INTO api_tokens (user_id, name, prefix, token_hash)
		SELECT id, 'bench', 'sbt_benc', $1 FROM users WHERE email = 'owner@bench.example'`, sum[:]); err != nil {
		return err
	}

	now := time.Now()
	fmt.Fprintf(os.Stderr, "bench: seeding %d expired and %d recent messages\n", messages, live)
	t0 := time.Now()
	if err := seed(ctx, pool, messages, live, now); err != nil {
		return err
	}
	var expired, deliveries, attachments int64
	pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE created_at < $1`, now.Add(-730*24*time.Hour)).Scan(&expired)
	pool.QueryRow(ctx, `SELECT count(*) FROM delivery_events WHERE at < $1`, now.Add(-730*24*time.Hour)).Scan(&deliveries)
	pool.QueryRow(ctx, `SELECT count(*) FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.created_at < $1`, now.Add(-730*24*time.Hour)).Scan(&attachments)
	fmt.Fprintf(os.Stderr, "bench: seeded in %s\n", time.Since(t0).Round(time.Second))

	client := &http.Client{Timeout: 30 * time.Second}
	list := func() (time.Duration, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/conversations?view=all", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		s := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("inbox list: %s", resp.Status)
		}
		return time.Since(s), nil
	}
	// The inbox's pace: a request every 10ms, as a busy team's browsers
	// and integrations would make.
	loop := func(stop <-chan struct{}, n int) ([]time.Duration, error) {
		var out []time.Duration
		for i := 0; n == 0 || i < n; i++ {
			select {
			case <-stop:
				return out, nil
			default:
			}
			d, err := list()
			if err != nil {
				return out, err
			}
			out = append(out, d)
			time.Sleep(10 * time.Millisecond)
		}
		return out, nil
	}
	fmt.Fprintln(os.Stderr, "bench: inbox list without the purge")
	if _, err := loop(nil, 50); err != nil { // warm up
		return err
	}
	idle, err := loop(nil, 500)
	if err != nil {
		return err
	}

	fmt.Fprintln(os.Stderr, "bench: purging, with the inbox list in a loop")
	stop := make(chan struct{})
	var during []time.Duration
	var loopErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); during, loopErr = loop(stop, 0) }()
	rep, err := retention.Enforce(ctx, pool, []retention.Rule{{Category: retention.Conversations, RetainFor: 730 * 24 * time.Hour, Action: retention.Delete}}, now, retention.Options{})
	close(stop)
	wg.Wait()
	if err != nil {
		return err
	}
	if loopErr != nil {
		return loopErr
	}
	c := rep.Categories[0]
	var left int64
	pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&left)

	fmt.Println()
	fmt.Println("| measure | value |")
	fmt.Println("|---|---|")
	fmt.Printf("| expired rows before the purge | %d messages, %d delivery events, %d attachments |\n", expired, deliveries, attachments)
	fmt.Printf("| purged | %d messages, %d delivery events, %d attachments, %d webhooks, %d conversations |\n",
		c.Deleted["messages"], c.Deleted["delivery_events"], c.Deleted["attachments"], c.Deleted["outbox"], c.Deleted["conversations"])
	fmt.Printf("| purge time (target < 60 s) | %s (%.0f messages/s) |\n", rep.Duration.Round(100*time.Millisecond), float64(c.Deleted["messages"])/rep.Duration.Seconds())
	fmt.Printf("| batches, longest (target: no lock held > 100 ms) | %d, %s |\n", rep.Batches, rep.LongestBatch.Round(100*time.Microsecond))
	fmt.Printf("| messages left (recent) | %d |\n", left)
	fmt.Printf("| inbox list p50 / p99 without the purge (%d requests) | %s / %s |\n", len(idle), pct(idle, 50), pct(idle, 99))
	fmt.Printf("| inbox list p50 / p99 during the purge (%d requests) | %s / %s |\n", len(during), pct(during, 50), pct(during, 99))
	return nil
}

// seed adds expired conversations of 10 messages each (two years and a day
// old), each message with a delivery event and one in ten with a 1 KiB
// attachment, and recent conversations the inbox lists.
func seed(ctx context.Context, pool *pgxpool.Pool, messages, live int, now time.Time) error {
	old := now.Add(-731 * 24 * time.Hour)
	stmts := []string{
		`INSERT INTO contacts (name, emails) SELECT 'Contact ' || g, ARRAY['c' || g || '@example.com'] FROM generate_series(1, 20000) g`,
	}
	for _, s := range stmts {
		if _, err := pool.Exec(ctx, s); err != nil {
			return err
		}
	}
	batch := func(sql string, args ...any) error {
		_, err := pool.Exec(ctx, sql, args...)
		return err
	}
	// Expired, then recent: conversations, messages, their delivery events
	// and attachments, in slices of 100,000 messages.
	for _, part := range []struct {
		n  int
		at time.Time
	}{{messages, old}, {live, now.Add(-time.Hour)}} {
		for done := 0; done < part.n; done += 100000 {
			k := min(100000, part.n-done)
			if err := batch(`WITH c AS (
					INSERT INTO conversations (channel, contact_id, subject, status, last_message_at, created_at, updated_at)
					SELECT 'api', (SELECT min(id) FROM contacts) + g % 20000, 'Order ' || g, (ARRAY['open','pending','resolved','resolved'])[1 + g % 4],
						$1::timestamptz + (g || ' seconds')::interval, $1, $1::timestamptz + (g || ' seconds')::interval
					FROM generate_series(1, $2::int / 10) g RETURNING id, last_message_at),
				m AS (
					INSERT INTO messages (conversation_id, channel, direction, body, created_at)
					SELECT c.id, 'api', (ARRAY['incoming','outgoing'])[1 + i % 2], 'Seeded message ' || i || ' about order ' || c.id, c.last_message_at
					FROM c, generate_series(1, 10) i RETURNING id, created_at)
				INSERT INTO delivery_events (message_id, status, at) SELECT id, 'delivered', created_at FROM m`, part.at, k); err != nil {
				return err
			}
		}
	}
	if err := batch(`INSERT INTO attachments (message_id, filename, content_type, size, sha256, data)
		SELECT id, 'file-' || id || '.txt', 'text/plain', 1024, 'x', convert_to(repeat('x', 1024), 'UTF8') FROM messages WHERE id % 10 = 0`); err != nil {
		return err
	}
	return batch(`VACUUM ANALYZE`)
}

func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := min(max((len(s)*p+99)/100, 1), len(s))
	return s[i-1].Round(100 * time.Microsecond).String()
}
