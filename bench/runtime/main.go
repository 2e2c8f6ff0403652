// Command runtime measures the tenant runtime against a real PostgreSQL and
// Vault on loopback: idle memory, start-to-ready time, inbound API ingest
// throughput and latency, inbox list latency over a million messages, and the
// binary's size. The runtime runs as its own process. It prints a table.
//
//	go run ./bench/runtime [-messages 20000] [-concurrency 32] [-seed 1000000]
package main

import (
	"bytes"
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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard-dev/switchboard/test/harness"
)

func main() {
	messages := flag.Int("messages", 20000, "inbound messages to post for the ingest measurement")
	concurrency := flag.Int("concurrency", 32, "concurrent ingest clients")
	seed := flag.Int("seed", 1000000, "messages seeded for the inbox list measurement")
	flag.Parse()
	if err := run(*messages, *concurrency, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "bench: "+err.Error())
		os.Exit(1)
	}
}

type runtimeProc struct {
	cmd  *exec.Cmd
	addr string
}

func run(messages, concurrency, seed int) error {
	ctx := context.Background()
	root, err := harness.Root()
	if err != nil {
		return err
	}
	bin := filepath.Join(root, "bin", "switchboard-runtime")
	fmt.Println("bench: building bin/switchboard-runtime")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./runtime/cmd/switchboard-runtime")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return err
	}
	st, _ := os.Stat(bin)

	fmt.Println("bench: starting PostgreSQL and Vault")
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

	start := func() (*runtimeProc, time.Duration, error) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := l.Addr().String()
		l.Close()
		cmd := exec.Command(bin)
		cmd.Env = []string{"SWITCHBOARD_WORKSPACE=bench", "SWITCHBOARD_PUBLIC_URL=http://bench.test", "SWITCHBOARD_LISTEN_ADDR=" + addr,
			"VAULT_ADDR=" + v.Addr(), "VAULT_TOKEN=" + harness.RootToken, "SWITCHBOARD_VAULT_PATH=workspaces/bench"}
		cmd.Stderr = io.Discard
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			return nil, 0, err
		}
		for time.Since(t0) < 30*time.Second {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return &runtimeProc{cmd: cmd, addr: addr}, time.Since(t0), nil
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
		cmd.Process.Kill()
		return nil, 0, fmt.Errorf("runtime did not become ready")
	}
	stop := func(p *runtimeProc) { p.cmd.Process.Signal(os.Interrupt); p.cmd.Wait() }

	fmt.Println("bench: first start (migrates the database)")
	p, first, err := start()
	if err != nil {
		return err
	}
	stop(p)
	var readies []time.Duration
	for i := 0; i < 10; i++ {
		p, d, err := start()
		if err != nil {
			return err
		}
		readies = append(readies, d)
		stop(p)
	}
	p, _, err = start()
	if err != nil {
		return err
	}
	defer stop(p)
	time.Sleep(3 * time.Second)
	idle := rss(p.cmd.Process.Pid)

	// An API token for the owner, inserted as the runtime stores it: the
	// SHA-256 of the token.
	token := "sbt_bench_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	sum := sha256.Sum256([]byte(token))
	dbc, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	_, err = dbc.Exec(ctx, `INSERT INTO api_tokens (user_id, name, prefix, token_hash)
		SELECT id, 'bench', 'sbt_benc', $1 FROM users WHERE email = 'owner@bench.example'`, sum[:])
	dbc.Close(ctx)
	if err != nil {
		return err
	}

	fmt.Printf("bench: posting %d inbound messages, %d at a time\n", messages, concurrency)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}, Timeout: 30 * time.Second}
	var next atomic.Int64
	lat := make([]time.Duration, messages)
	var failures atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= messages {
					return
				}
				body := fmt.Sprintf(`{"contact":{"identifier":"+1555%07d","name":"Contact %d"},"messageId":"bench-%d","text":"Hello, I have a question about order %d"}`, i%2000, i%2000, i, i)
				req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+"/api/v1/messages", bytes.NewBufferString(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				s := time.Now()
				resp, err := client.Do(req)
				lat[i] = time.Since(s)
				if err != nil || resp.StatusCode != http.StatusCreated {
					failures.Add(1)
				}
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	ingestDur := time.Since(t0)

	fmt.Printf("bench: seeding %d messages for the inbox list\n", seed)
	if err := seedMessages(ctx, dsn, seed); err != nil {
		return err
	}
	list := func(path string) ([]time.Duration, error) {
		var out []time.Duration
		for i := 0; i < 200; i++ {
			req, _ := http.NewRequest(http.MethodGet, "http://"+p.addr+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			s := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return nil, fmt.Errorf("%s: %s", path, resp.Status)
			}
			out = append(out, time.Since(s))
		}
		return out, nil
	}
	all, err := list("/api/v1/conversations?view=all")
	if err != nil {
		return err
	}
	open, err := list("/api/v1/conversations?view=all&status=open")
	if err != nil {
		return err
	}
	unassigned, err := list("/api/v1/conversations?view=unassigned&status=pending")
	if err != nil {
		return err
	}
	search, err := list("/api/v1/conversations?view=all&q=%22number+777777%22")
	if err != nil {
		return err
	}
	var total int
	if c, err := pgx.Connect(ctx, dsn); err == nil {
		c.QueryRow(ctx, "SELECT count(*) FROM messages").Scan(&total)
		c.Close(ctx)
	}

	fmt.Println()
	fmt.Println("| measure | value |")
	fmt.Println("|---|---|")
	fmt.Printf("| runtime binary size (stripped) | %.1f MiB |\n", float64(st.Size())/(1<<20))
	fmt.Printf("| first start to ready (runs migrations) | %s |\n", first.Round(time.Millisecond))
	fmt.Printf("| start to ready, migrated database, p50 / max of 10 | %s / %s |\n", pct(readies, 50), pct(readies, 100))
	fmt.Printf("| idle RSS, 3 s after ready | %s |\n", idle)
	fmt.Printf("| ingest: %d messages at concurrency %d | %.0f messages/s (%d failures) |\n", messages, concurrency, float64(messages)/ingestDur.Seconds(), failures.Load())
	fmt.Printf("| ingest latency p50 / p99 | %s / %s |\n", pct(lat, 50), pct(lat, 99))
	fmt.Printf("| inbox list (all), %d messages, p50 / p99 of 200 | %s / %s |\n", total, pct(all, 50), pct(all, 99))
	fmt.Printf("| inbox list (status=open) p50 / p99 | %s / %s |\n", pct(open, 50), pct(open, 99))
	fmt.Printf("| inbox list (unassigned, pending) p50 / p99 | %s / %s |\n", pct(unassigned, 50), pct(unassigned, 99))
	fmt.Printf("| full-text search over all messages, p50 / p99 | %s / %s |\n", pct(search, 50), pct(search, 99))
	return nil
}

// seedMessages adds n messages over n/10 conversations of n/50 contacts, in SQL.
func seedMessages(ctx context.Context, dsn string, n int) error {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	convs, contacts := n/10, n/50
	stmts := []string{
		`INSERT INTO contacts (name, emails) SELECT 'Seeded ' || g, ARRAY['seed' || g || '@example.com'] FROM generate_series(1, ` + strconv.Itoa(contacts) + `) g`,
		`INSERT INTO conversations (channel, contact_id, status, last_message_at)
		 SELECT 'api', (SELECT min(id) FROM contacts) + (g % ` + strconv.Itoa(contacts) + `),
		   (ARRAY['open','pending','resolved','resolved'])[1 + g % 4], now() - (g || ' seconds')::interval
		 FROM generate_series(1, ` + strconv.Itoa(convs) + `) g`,
		`INSERT INTO messages (conversation_id, channel, direction, body, created_at)
		 SELECT (SELECT min(id) FROM conversations) + (g % ` + strconv.Itoa(convs) + `), 'api',
		   (ARRAY['incoming','outgoing'])[1 + g % 2], 'Seeded message number ' || g || ' about an order', now() - (g || ' seconds')::interval
		 FROM generate_series(1, ` + strconv.Itoa(n) + `) g`,
		`ANALYZE`,
	}
	for _, s := range stmts {
		if _, err := c.Exec(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

func pct(d []time.Duration, p int) string {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	if i > len(s) {
		i = len(s)
	}
	v := s[i-1]
	if v < time.Millisecond {
		return v.Round(10 * time.Microsecond).String()
	}
	return v.Round(100 * time.Microsecond).String()
}

func rss(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "?"
}
