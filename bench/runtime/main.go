// Command runtime measures the tenant runtime against a real PostgreSQL and
// Vault on loopback: idle memory, start-to-ready time, inbound ingest
// through the generic API and as signed Telnyx webhooks, inbox list latency
// over a million messages, and the binary's size. The runtime runs as its
// own process. It prints a table.
//
//	go run ./bench/runtime [-messages 20000] [-webhooks 20000] [-retry 0.1] [-concurrency 32] [-seed 1000000]
//
// The webhook phase connects a telnyx Integration as the operator does
// (credentials and manifest in the workspace's Vault subtree), then posts
// message.received webhooks from 2,000 phones, each signed with the
// emulator's Ed25519 key when it is sent; a share of the messages (-retry)
// is delivered twice, as a provider retry, half of those racing their first
// delivery. It counts the messages stored: any more than were sent are
// duplicates.
//
// Each ingest figure comes with the CPU the runtime, PostgreSQL and the load
// generator spent per message, and the machine's load average: on a shared
// machine the CPU per message is the steadier measure. -runtime-bin measures
// a given build, to compare two on the same machine in turn.
//
// -profile DIR also writes, for each ingest phase, the runtime's CPU profile
// (DIR/<phase>.cpu.pprof, through SWITCHBOARD_DEBUG_PPROF_ADDR; read it with
// `go tool pprof -top bin/switchboard-runtime DIR/webhook.cpu.pprof`), a
// perf profile of PostgreSQL where perf works, and PostgreSQL's statement
// statistics (pg_stat_statements) with a sample of what the runtime's
// sessions waited on (DIR/<phase>.pg.txt). Profiling costs some throughput:
// quote figures of runs without it.
//
// PostgreSQL runs as the test harness starts it, with fsync and
// synchronous_commit off: a commit costs no disk flush here, so the figures
// are an upper bound for a durable server.
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
	"strings"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard-dev/switchboard/runtime/emulators/telnyxtest"
	"github.com/switchboard-dev/switchboard/test/harness"
)

type options struct {
	messages, webhooks, concurrency, seed, starts int
	searches                                      int
	retry                                         float64
	profileDir                                    string
	profileSeconds, profileDelay                  int
	runtimeLog                                    string
	runtimeBin                                    string
}

func main() {
	var o options
	flag.IntVar(&o.messages, "messages", 20000, "inbound messages to post through the generic API (0 skips)")
	flag.IntVar(&o.webhooks, "webhooks", 20000, "distinct inbound SMS to deliver as signed Telnyx webhooks (0 skips)")
	flag.Float64Var(&o.retry, "retry", 0.1, "share of webhook messages delivered a second time, as a provider retry")
	flag.IntVar(&o.concurrency, "concurrency", 32, "concurrent ingest clients")
	flag.IntVar(&o.seed, "seed", 1000000, "messages seeded for the inbox list measurement (0 skips)")
	flag.IntVar(&o.starts, "starts", 10, "restarts timed for start-to-ready")
	flag.IntVar(&o.searches, "searches", 200, "requests timed per kind of search over the seeded messages (0 skips; see search.go)")
	flag.StringVar(&o.profileDir, "profile", "", "write CPU profiles and PostgreSQL statement statistics of each ingest phase to this directory")
	flag.IntVar(&o.profileSeconds, "profile-seconds", 10, "length of each CPU profile")
	flag.IntVar(&o.profileDelay, "profile-delay", 0, "seconds from the start of a phase to the start of its CPU profiles (the first messages of the phase are every contact's first)")
	flag.StringVar(&o.runtimeLog, "runtime-log", "", "append the runtime's log to this file (default: discard it)")
	flag.StringVar(&o.runtimeBin, "runtime-bin", "", "measure this runtime binary instead of building bin/switchboard-runtime (to compare two builds)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench: "+err.Error())
		os.Exit(1)
	}
}

type runtimeProc struct {
	cmd  *exec.Cmd
	addr string
}

func run(o options) error {
	ctx := context.Background()
	root, err := harness.Root()
	if err != nil {
		return err
	}
	bin := o.runtimeBin
	if bin == "" {
		bin = filepath.Join(root, "bin", "switchboard-runtime")
		fmt.Println("bench: building bin/switchboard-runtime")
		build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./runtime/cmd/switchboard-runtime")
		build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return err
		}
	}
	st, err := os.Stat(bin)
	if err != nil {
		return err
	}

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
	if o.profileDir != "" {
		// pg_stat_statements must be loaded at server start.
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
		if _, err := admin.Exec(ctx, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"); err != nil {
			return err
		}
		admin.Close(ctx)
		pg.Stop()
		if err := pg.Start(); err != nil {
			return err
		}
		if admin, err = pgx.Connect(ctx, pg.AdminDSN()); err != nil {
			return err
		}
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE bench"); err != nil {
		return err
	}
	admin.Close(ctx)
	dsn := pg.DSN("postgres", "", "bench")
	if o.profileDir != "" {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		_, err = c.Exec(ctx, "CREATE EXTENSION pg_stat_statements")
		c.Close(ctx)
		if err != nil {
			return err
		}
	}
	vc, _ := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
	vc.SetToken(harness.RootToken)
	if err := vc.Sys().Mount("switchboard", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		return err
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("bench-password-1"), 10)
	kv := vc.KVv2("switchboard")
	const subtree = "workspaces/bench"
	if _, err := kv.Put(ctx, subtree+"/database", map[string]any{"dsn": dsn}); err != nil {
		return err
	}
	if _, err := kv.Put(ctx, subtree+"/bootstrap", map[string]any{"email": "owner@bench.example", "passwordHash": string(hash), "mustChangePassword": "false"}); err != nil {
		return err
	}

	freeAddr := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	start := func(extraEnv ...string) (*runtimeProc, time.Duration, error) {
		addr := freeAddr()
		cmd := exec.Command(bin)
		cmd.Env = append([]string{"SWITCHBOARD_WORKSPACE=bench", "SWITCHBOARD_PUBLIC_URL=http://bench.test", "SWITCHBOARD_LISTEN_ADDR=" + addr,
			"VAULT_ADDR=" + v.Addr(), "VAULT_TOKEN=" + harness.RootToken, "SWITCHBOARD_VAULT_PATH=" + subtree}, extraEnv...)
		cmd.Stderr = io.Discard
		if o.runtimeLog != "" {
			f, err := os.OpenFile(o.runtimeLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return nil, 0, err
			}
			defer f.Close() // the child has its own descriptor
			cmd.Stderr = f
		}
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
	for i := 0; i < o.starts; i++ {
		p, d, err := start()
		if err != nil {
			return err
		}
		readies = append(readies, d)
		stop(p)
	}
	var prof *profiler
	var extraEnv []string
	if o.profileDir != "" {
		prof = &profiler{dir: o.profileDir, pprofAddr: freeAddr(), delay: time.Duration(o.profileDelay) * time.Second, seconds: o.profileSeconds, dsn: dsn}
		extraEnv = append(extraEnv, "SWITCHBOARD_DEBUG_PPROF_ADDR="+prof.pprofAddr)
	}
	p, _, err = start(extraEnv...)
	if err != nil {
		return err
	}
	defer stop(p)
	time.Sleep(3 * time.Second)
	idle := rss(p.cmd.Process.Pid)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency}, Timeout: 30 * time.Second}
	var rows [][2]string
	row := func(k, format string, args ...any) { rows = append(rows, [2]string{k, fmt.Sprintf(format, args...)}) }
	var reports []string
	// phase runs one ingest phase, measuring CPU and, with -profile, profiling it.
	phase := func(name string, messages int, ds []delivery) (*result, cpuSplit, string, error) {
		var done func() (string, error)
		if prof != nil {
			var err error
			if done, err = prof.phase(ctx, name, messages); err != nil {
				return nil, cpuSplit{}, "", err
			}
		}
		load := loadAvg()
		meter, err := startCPU(ctx, p.cmd.Process.Pid, dsn)
		if err != nil {
			return nil, cpuSplit{}, "", err
		}
		res := deliver(client, ds, o.concurrency)
		cpu := meter.stop(ctx)
		load += " -> " + loadAvg()
		if done != nil {
			report, err := done()
			if err != nil {
				return nil, cpuSplit{}, "", err
			}
			reports = append(reports, report)
		}
		return res, cpu, load, nil
	}

	if o.messages > 0 {
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
		fmt.Printf("bench: posting %d inbound messages to the generic API, %d at a time\n", o.messages, o.concurrency)
		res, cpu, load, err := phase("api", o.messages, apiDeliveries(p.addr, token, o.messages))
		if err != nil {
			return err
		}
		row(fmt.Sprintf("API ingest: %d messages at concurrency %d", o.messages, o.concurrency), "%.0f messages/s (%d failures; load average %s)",
			float64(o.messages)/res.duration.Seconds(), res.failures(http.StatusCreated), load)
		row("API ingest latency p50 / p99", "%s / %s", pct(res.latencies, 50), pct(res.latencies, 99))
		row("API ingest CPU per message: runtime / PostgreSQL / load generator", "%s / %s / %s",
			perMessage(cpu.runtime, o.messages), perMessage(cpu.postgres, o.messages), perMessage(cpu.bench, o.messages))
	}

	if o.webhooks > 0 {
		tx := telnyxtest.New(telnyxtest.Options{})
		defer tx.Close()
		fmt.Println("bench: connecting a telnyx Integration through the Vault manifest")
		url, err := connectTelnyx(ctx, kv, subtree, p.addr, tx)
		if err != nil {
			return err
		}
		ds := webhookDeliveries(tx, url, o.webhooks, o.retry)
		fmt.Printf("bench: delivering %d signed Telnyx webhooks (%d messages, %d retried), %d at a time\n",
			len(ds), o.webhooks, len(ds)-o.webhooks, o.concurrency)
		res, cpu, load, err := phase("webhook", o.webhooks, ds)
		if err != nil {
			return err
		}
		stored, dups, err := storedMessages(ctx, dsn, "telnyx/"+telnyxName)
		if err != nil {
			return err
		}
		row(fmt.Sprintf("webhook ingest: %d signed Telnyx deliveries of %d messages at concurrency %d", len(ds), o.webhooks, o.concurrency),
			"%.0f messages/s, %.0f deliveries/s (%d failures; load average %s)",
			float64(o.webhooks)/res.duration.Seconds(), float64(len(ds))/res.duration.Seconds(), res.failures(http.StatusOK), load)
		row("webhook ingest latency p50 / p99", "%s / %s", pct(res.latencies, 50), pct(res.latencies, 99))
		row("webhook ingest: messages stored / duplicates", "%d of %d / %d", stored, o.webhooks, stored-o.webhooks+dups)
		row("webhook ingest CPU per message: runtime / PostgreSQL / load generator", "%s / %s / %s",
			perMessage(cpu.runtime, o.webhooks), perMessage(cpu.postgres, o.webhooks), perMessage(cpu.bench, o.webhooks))
	}

	if o.seed > 0 {
		fmt.Printf("bench: seeding %d messages for the inbox list\n", o.seed)
		if err := seedMessages(ctx, dsn, o.seed); err != nil {
			return err
		}
		token, err := listToken(ctx, dsn)
		if err != nil {
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
		var total int
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			c.QueryRow(ctx, "SELECT count(*) FROM messages").Scan(&total)
			c.Close(ctx)
		}
		for _, l := range []struct{ name, path string }{
			{fmt.Sprintf("inbox list (all), %d messages, p50 / p99 of 200", total), "/api/v1/conversations?view=all"},
			{"inbox list (status=open) p50 / p99", "/api/v1/conversations?view=all&status=open"},
			{"inbox list (unassigned, pending) p50 / p99", "/api/v1/conversations?view=unassigned&status=pending"},
			{"full-text search over all messages, p50 / p99", "/api/v1/conversations?view=all&q=%22number+777777%22"},
		} {
			d, err := list(l.path)
			if err != nil {
				return err
			}
			row(l.name, "%s / %s", pct(d, 50), pct(d, 99))
		}
		if o.searches > 0 {
			fmt.Println("bench: naming the seeded contacts and conversations for search")
			if err := seedSearch(ctx, dsn); err != nil {
				return err
			}
			sr, err := measureSearch(client, p.addr, token, o.searches)
			if err != nil {
				return err
			}
			rows = append(rows, sr...)
		}
	}

	weight, err := pageWeight(p.addr, "owner@bench.example", "bench-password-1", "/inbox")
	if err != nil {
		return err
	}
	rows = append(rows, weight...)

	fmt.Println()
	fmt.Println("| measure | value |")
	fmt.Println("|---|---|")
	fmt.Printf("| runtime binary size (stripped) | %.1f MiB |\n", float64(st.Size())/(1<<20))
	fmt.Printf("| first start to ready (runs migrations) | %s |\n", first.Round(time.Millisecond))
	if len(readies) > 0 {
		fmt.Printf("| start to ready, migrated database, p50 / max of %d | %s / %s |\n", len(readies), pct(readies, 50), pct(readies, 100))
	}
	fmt.Printf("| idle RSS, 3 s after ready | %s |\n", idle)
	for _, r := range rows {
		fmt.Printf("| %s | %s |\n", r[0], r[1])
	}
	for _, r := range reports {
		fmt.Println()
		fmt.Print(r)
	}
	if prof != nil {
		fmt.Printf("\nCPU profiles: go tool pprof -top %s %s\n", bin, filepath.Join(o.profileDir, "<phase>.cpu.pprof"))
	}
	return nil
}

// listToken makes an API token for the owner, inserted as the runtime
// stores it (the SHA-256 of the token), for the inbox list measurement.
func listToken(ctx context.Context, dsn string) (string, error) {
	token := "sbt_list_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	sum := sha256.Sum256([]byte(token))
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, `INSERT INTO api_tokens (user_id, name, prefix, token_hash)
		SELECT id, 'bench-list', 'sbt_list', $1 FROM users WHERE email = 'owner@bench.example'`, sum[:])
	return token, err
}

// seedMessages adds n messages over n/10 conversations of n/50 contacts, in
// SQL. Ingest leaves gaps in the id sequences (a statement that lost a race
// used ids it did not keep), so rows are picked by position, not id.
func seedMessages(ctx context.Context, dsn string, n int) error {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	convs, contacts := n/10, n/50
	stmts := []string{
		`INSERT INTO contacts (name, emails) SELECT 'Seeded ' || g, ARRAY['seed' || g || '@example.com'] FROM generate_series(1, ` + strconv.Itoa(contacts) + `) g`,
		`INSERT INTO conversations (channel, contact_id, subject, status, last_message_at)
		 SELECT 'api', s.ids[1 + g % ` + strconv.Itoa(contacts) + `], 'Seeded',
		   (ARRAY['open','pending','resolved','resolved'])[1 + g % 4], now() - (g || ' seconds')::interval
		 FROM generate_series(1, ` + strconv.Itoa(convs) + `) g,
		   (SELECT array_agg(id ORDER BY id) AS ids FROM contacts WHERE name LIKE 'Seeded %') s`,
		`INSERT INTO messages (conversation_id, channel, direction, body, created_at)
		 SELECT s.ids[1 + g % ` + strconv.Itoa(convs) + `], 'api',
		   (ARRAY['incoming','outgoing'])[1 + g % 2], 'Seeded message number ' || g || ' about an order', now() - (g || ' seconds')::interval
		 FROM generate_series(1, ` + strconv.Itoa(n) + `) g,
		   (SELECT array_agg(id ORDER BY id) AS ids FROM conversations WHERE subject = 'Seeded') s`,
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
