// Command privacy measures a data-subject's access bundle and erasure
// (runtime/privacy) against a real PostgreSQL and Vault: one contact with
// 100,000 messages (a delivery event on each reply, a private note in
// fifty, and incompressible attachments) among other contacts.
//
//   - ExportContact runs in a child process of its own, writing the bundle
//     to a file: its time, the bundle's size, and the child's peak RSS
//     (VmHWM, reset just before the export by writing 5 to
//     /proc/self/clear_refs) beside its RSS before the export.
//
//   - privacy.Erase of that contact, with a Vault ledger: its time, the
//     transaction's duration (from pg_stat_activity's xact_start to the
//     commit's return), the lock modes its backend held on each table
//     (pg_locks, sampled every 2 ms from a second connection), whether any
//     backend waited on a lock meanwhile, and the latency of an inbox-like
//     loop on the other contacts (list the open conversations, add an
//     incoming message) before and during the erasure, and what becomes of
//     an incoming message to the subject's conversation sent while the
//     erasure holds its lock.
//
// It prints a table. Run it on a quiet machine:
//
//	go run ./bench/privacy [-messages 100000] [-attachments 100] [-others 2000]
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/switchboard-dev/switchboard/runtime/migrations"
	"github.com/switchboard-dev/switchboard/runtime/privacy"
	"github.com/switchboard-dev/switchboard/test/harness"
)

type config struct {
	messages, attachments, attachmentSize, others int
	erase                                         bool
}

func main() {
	var c config
	flag.IntVar(&c.messages, "messages", 100000, "messages of the subject")
	flag.IntVar(&c.attachments, "attachments", 100, "attachments of the subject (random bytes, image/jpeg)")
	flag.IntVar(&c.attachmentSize, "attachment-size", 256<<10, "bytes per attachment")
	flag.IntVar(&c.others, "others", 2000, "other contacts, with a conversation of 20 messages each")
	flag.BoolVar(&c.erase, "erase", true, "measure the erasure too (needs bin/vault)")
	child := flag.Bool("child-export", false, "internal: export the contact named by BENCH_DSN, BENCH_CONTACT and BENCH_OUT, and print the figures")
	flag.Parse()
	var err error
	if *child {
		err = childExport()
	} else {
		err = run(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: "+err.Error())
		os.Exit(1)
	}
}

func progress(msg string) { fmt.Fprintln(os.Stderr, "bench: "+msg) }

func run(c config) error {
	ctx := context.Background()
	progress("starting PostgreSQL")
	pg, err := harness.StartPostgres()
	if err != nil {
		return err
	}
	defer pg.Close()
	var v *harness.Vault
	if c.erase {
		progress("starting Vault")
		if v, err = harness.StartVault(); err != nil {
			return err
		}
		defer v.Close()
	}
	admin, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE bench"); err != nil {
		return err
	}
	admin.Close(ctx)
	dsn := pg.DSN("postgres", "", "bench")
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrate(ctx, pool); err != nil {
		return err
	}

	progress(fmt.Sprintf("seeding: a contact with %d messages and %d attachments of %d KiB, %d other contacts", c.messages, c.attachments, c.attachmentSize>>10, c.others))
	t0 := time.Now()
	subject, err := seed(ctx, pool, c)
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	progress("seeded in " + time.Since(t0).Round(time.Second).String())

	var rows []string
	row := func(k, v string) { rows = append(rows, fmt.Sprintf("| %s | %s |", k, v)) }
	var subjectMessages, allMessages int64
	pool.QueryRow(ctx, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = $1`, subject).Scan(&subjectMessages)
	pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&allMessages)
	row("data", fmt.Sprintf("subject: %d messages (with %d attachments of %d KiB); workspace: %d messages, %d contacts",
		subjectMessages, c.attachments, c.attachmentSize>>10, allMessages, c.others+1))

	progress("exporting the contact in a child process")
	e, err := exportInChild(ctx, dsn, subject)
	if err != nil {
		return err
	}
	row("ExportContact time", e.Duration.Round(time.Millisecond).String())
	row("bundle size", fmt.Sprintf("%.1f MiB (%d files; messages.jsonl %d rows)", float64(e.Size)/(1<<20), e.Files, e.Counts["messages.jsonl"]))
	row("export process RSS before / peak during (VmHWM)", fmt.Sprintf("%.1f MiB / %.1f MiB", float64(e.RSSBefore)/1024, float64(e.PeakRSS)/1024))

	if c.erase {
		er, err := measureErase(ctx, dsn, v, subject, c.others)
		if err != nil {
			return err
		}
		row("Erase time (Vault key read, delete, ledger append, commit)", er.total.Round(time.Millisecond).String())
		row("erase transaction, xact_start to commit's return (the longest any row lock is held)", er.tx.Round(time.Millisecond).String())
		row("rows erased", er.counts.String())
		row("table locks held by the erase backend (mode: tables)", er.locks)
		row("backends waiting on a lock during the erase (but the probe below)", er.waiting)
		row("an incoming message to the subject's conversation, sent once the erasure locked it", er.probe)
		row("inbox loop p50 / max before the erase", fmt.Sprintf("%s / %s (%d rounds)", pct(er.before, 50), pct(er.before, 100), len(er.before)))
		row("inbox loop p50 / max during the erase", fmt.Sprintf("%s / %s (%d rounds)", pct(er.during, 50), pct(er.during, 100), len(er.during)))
	}
	fmt.Println()
	fmt.Println("| measure | value |")
	fmt.Println("|---|---|")
	for _, r := range rows {
		fmt.Println(r)
	}
	return nil
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// seed adds the members, the other contacts (a conversation of 20
// messages each) and the subject: c.messages messages in conversations of
// 1,000, replies with a delivery event, every 50th message a private note,
// and c.attachments attachments of random bytes on their incoming messages.
// It returns the subject's id.
func seed(ctx context.Context, pool *pgxpool.Pool, c config) (int64, error) {
	exec := func(q string, args ...any) error {
		_, err := pool.Exec(ctx, q, args...)
		return err
	}
	if err := exec(`INSERT INTO users (email, name, role, password_hash) VALUES
		('owner@bench.example', 'Bench Owner', 'owner', 'x'), ('agent@bench.example', 'Bench Agent', 'agent', 'x')`); err != nil {
		return 0, err
	}
	if err := exec(`WITH ct AS (
			INSERT INTO contacts (name, emails) SELECT 'Other ' || g, ARRAY['other' || g || '@example.com'] FROM generate_series(1, $1::int) g RETURNING id),
		cv AS (
			INSERT INTO conversations (channel, contact_id, subject) SELECT 'api', id, 'Order ' || id FROM ct RETURNING id)
		INSERT INTO messages (conversation_id, channel, direction, body)
		SELECT cv.id, 'api', (ARRAY['incoming','outgoing'])[1 + i % 2], 'Other message ' || i FROM cv, generate_series(1, 20) i`, c.others); err != nil {
		return 0, err
	}
	var subject, agent int64
	if err := pool.QueryRow(ctx, `INSERT INTO contacts (name, emails, phones) VALUES ('Bench Subject', '{subject@example.org}', '{+4915100000000}') RETURNING id`).Scan(&subject); err != nil {
		return 0, err
	}
	pool.QueryRow(ctx, `SELECT id FROM users WHERE role = 'agent'`).Scan(&agent)
	if err := exec(`INSERT INTO contact_identities (channel, identifier, contact_id) VALUES ('email', 'subject@example.org', $1)`, subject); err != nil {
		return 0, err
	}
	const perConv = 1000
	for done := 0; done < c.messages; done += 10 * perConv {
		k := min(10*perConv, c.messages-done)
		if err := exec(`WITH cv AS (
				INSERT INTO conversations (channel, contact_id, subject, assignee_id)
				SELECT 'email', $1, 'Thread ' || g, $3 FROM generate_series(1, ($2::int + 999) / 1000) g RETURNING id),
			n AS (SELECT cv.id, i FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM cv) cv, generate_series(1, 1000) i
				WHERE cv.k * 1000 + i <= $2::int),
			m AS (
				INSERT INTO messages (conversation_id, channel, direction, author_id, body, delivery_status)
				SELECT id, 'email', CASE WHEN i % 50 = 0 THEN 'note' WHEN i % 2 = 0 THEN 'outgoing' ELSE 'incoming' END,
					CASE WHEN i % 2 = 0 THEN $3 END,
					'Message ' || i || ' of the thread: ' || repeat('words of the conversation ', 1 + i % 8),
					CASE WHEN i % 2 = 0 AND i % 50 <> 0 THEN 'delivered' END
				FROM n RETURNING id, direction)
			INSERT INTO delivery_events (message_id, status) SELECT id, 'delivered' FROM m WHERE direction = 'outgoing'`, subject, k, agent); err != nil {
			return 0, err
		}
	}
	if err := exec(`INSERT INTO notes (contact_id, author_id, body) VALUES ($1, $2, 'Bench note about the subject')`, subject, agent); err != nil {
		return 0, err
	}
	data := make([]byte, c.attachmentSize)
	for i := 0; i < c.attachments; i++ {
		rand.Read(data)
		if err := exec(`INSERT INTO attachments (message_id, filename, content_type, size, sha256, data)
			SELECT m.id, $5, 'image/jpeg', $3, 'x', $4 FROM messages m JOIN conversations c ON c.id = m.conversation_id
			WHERE c.contact_id = $1 AND m.direction = 'incoming' ORDER BY m.id OFFSET $2 LIMIT 1`, subject, i, len(data), data, fmt.Sprintf("photo-%d.jpg", i)); err != nil {
			return 0, err
		}
	}
	return subject, exec(`VACUUM ANALYZE`)
}

// exported is what the child reports.
type exported struct {
	Duration  time.Duration
	Size      int64
	Files     int
	Counts    privacy.Counts
	RSSBefore int64 // KiB
	PeakRSS   int64 // KiB
}

func exportInChild(ctx context.Context, dsn string, contact int64) (exported, error) {
	dir, err := os.MkdirTemp("", "bench-privacy-")
	if err != nil {
		return exported{}, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, os.Args[0], "-child-export")
	cmd.Env = append(os.Environ(), "BENCH_DSN="+dsn, "BENCH_CONTACT="+strconv.FormatInt(contact, 10), "BENCH_OUT="+filepath.Join(dir, "bundle.zip"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return exported{}, fmt.Errorf("the export child: %w", err)
	}
	var e exported
	if err := json.Unmarshal(out, &e); err != nil {
		return exported{}, fmt.Errorf("the export child said %q: %w", out, err)
	}
	return e, nil
}

// childExport exports the contact to a file and prints the figures as
// JSON. The peak RSS is reset after connecting, so that it is the
// export's: what the process holds at that point (the Go runtime, pgx, one
// connection) is reported beside it.
func childExport() error {
	ctx := context.Background()
	contact, err := strconv.ParseInt(os.Getenv("BENCH_CONTACT"), 10, 64)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, os.Getenv("BENCH_DSN"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	f, err := os.Create(os.Getenv("BENCH_OUT"))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting the peak RSS: %w", err)
	}
	var e exported
	if e.RSSBefore, err = procStatus("VmRSS"); err != nil {
		return err
	}
	t0 := time.Now()
	bw := bufio.NewWriterSize(f, 256<<10)
	counts, err := privacy.ExportContact(ctx, conn, contact, bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return err
	}
	e.Duration = time.Since(t0)
	if e.PeakRSS, err = procStatus("VmHWM"); err != nil {
		return err
	}
	e.Counts = counts
	st, err := f.Stat()
	if err != nil {
		return err
	}
	e.Size = st.Size()
	e.Files = 1 // manifest.json
	for k, n := range counts {
		if k == "attachments/" {
			e.Files += int(n)
		} else {
			e.Files++
		}
	}
	return json.NewEncoder(os.Stdout).Encode(e)
}

// procStatus reads a field of /proc/self/status, in KiB.
func procStatus(field string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, errors.New("no " + field + " in /proc/self/status")
}

type eraseResult struct {
	total, tx      time.Duration
	counts         privacy.Counts
	locks, waiting string
	probe          string
	before, during []time.Duration
}

// measureErase erases the subject through a pool of its own (named
// bench-erase, so that its backend can be watched) while a sampler reads
// pg_locks and an inbox loop runs on the other contacts.
func measureErase(ctx context.Context, dsn string, v *harness.Vault, subject int64, others int) (eraseResult, error) {
	var r eraseResult
	vc, err := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
	if err != nil {
		return r, err
	}
	vc.SetToken(harness.RootToken)
	if err := vc.Sys().Mount("switchboard", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		return r, err
	}
	ledger := privacy.NewLedger(vc, "switchboard", "erasures/ws-bench-1")

	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return r, err
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "bench-erase"
	cfg.MaxConns = 1
	erasePool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return r, err
	}
	defer erasePool.Close()
	if err := erasePool.Ping(ctx); err != nil {
		return r, err
	}
	loadPool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return r, err
	}
	defer loadPool.Close()
	sampler, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return r, err
	}
	defer sampler.Close(ctx)
	// The probe is a connection of its own, which the sampler does not
	// count among the backends that wait.
	probeCfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return r, err
	}
	probeCfg.RuntimeParams["application_name"] = "bench-probe"
	probe, err := pgx.ConnectConfig(ctx, probeCfg)
	if err != nil {
		return r, err
	}
	defer probe.Close(ctx)

	progress("inbox loop without the erasure")
	var firstOther int64
	loadPool.QueryRow(ctx, `SELECT min(id) FROM conversations`).Scan(&firstOther)
	if r.before, err = inboxLoop(ctx, loadPool, firstOther, others, nil, 300); err != nil {
		return r, err
	}

	progress("erasing, with the inbox loop and the lock sampler running")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var loopErr, sampleErr error
	var s sample
	wg.Add(2)
	go func() { defer wg.Done(); r.during, loopErr = inboxLoop(ctx, loadPool, firstOther, others, stop, 0) }()
	started := make(chan struct{})
	go func() { defer wg.Done(); s, sampleErr = sampleLocks(ctx, sampler, stop, started) }()
	// A write to the subject's own conversation, once the erasure has
	// locked their conversations: the one kind of query that should wait.
	var subjectConv int64
	loadPool.QueryRow(ctx, `SELECT min(id) FROM conversations WHERE contact_id = $1`, subject).Scan(&subjectConv)
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-started:
		case <-stop:
			r.probe = "not run: the sampler did not see the erasure lock the conversations"
			return
		}
		t0 := time.Now()
		_, err := probe.Exec(ctx, `INSERT INTO messages (conversation_id, channel, direction, body) VALUES ($1, 'email', 'incoming', 'Probe')`, subjectConv)
		outcome := "inserted"
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			outcome = "refused, " + pgErr.Code + " " + pgErr.ConstraintName
		} else if err != nil {
			outcome = err.Error()
		}
		r.probe = fmt.Sprintf("waited %s, then %s", time.Since(t0).Round(time.Millisecond), outcome)
	}()
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	r.counts, err = privacy.Erase(ctx, erasePool, ledger, privacy.Entry{Kind: privacy.KindContact, SubjectID: subject, RequestID: "bench-1"})
	end := time.Now()
	r.total = end.Sub(t0)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil {
		return r, err
	}
	if loopErr != nil {
		return r, loopErr
	}
	if sampleErr != nil {
		return r, sampleErr
	}
	if !s.xactStart.IsZero() {
		r.tx = end.Sub(s.xactStart)
	}
	byMode := map[string][]string{}
	for k := range s.locks {
		mode, rel, _ := strings.Cut(k, " ")
		byMode[mode] = append(byMode[mode], rel)
	}
	var parts []string
	for _, mode := range slices.Sorted(maps.Keys(byMode)) {
		slices.Sort(byMode[mode])
		parts = append(parts, mode+": "+strings.Join(byMode[mode], ", "))
	}
	r.locks = strings.Join(parts, "; ") + fmt.Sprintf(" (%d samples)", s.samples)
	r.waiting = "none"
	if s.maxWaiting > 0 {
		r.waiting = fmt.Sprintf("up to %d at once, on: %s", s.maxWaiting, strings.Join(slices.Sorted(maps.Keys(s.waitedOn)), ", "))
	}
	return r, nil
}

type sample struct {
	samples    int
	xactStart  time.Time
	locks      map[string]bool // "mode relation"
	maxWaiting int
	waitedOn   map[string]bool // wait events of waiting backends
}

// sampleLocks reads, every 2 ms until stop, the locks held by the
// bench-erase backend and the backends waiting on a lock.
func sampleLocks(ctx context.Context, conn *pgx.Conn, stop <-chan struct{}, started chan<- struct{}) (sample, error) {
	s := sample{locks: map[string]bool{}, waitedOn: map[string]bool{}}
	for {
		select {
		case <-stop:
			return s, nil
		default:
		}
		rows, err := conn.Query(ctx, `SELECT l.mode, COALESCE(c.relname, l.locktype), a.xact_start
			FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			LEFT JOIN pg_class c ON c.oid = l.relation LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE a.application_name = 'bench-erase' AND a.xact_start IS NOT NULL AND l.granted
				AND (c.oid IS NULL OR c.relkind IN ('r', 'p') AND n.nspname = 'public')`)
		if err != nil {
			return s, err
		}
		for rows.Next() {
			var mode, rel string
			var start time.Time
			if err := rows.Scan(&mode, &rel, &start); err != nil {
				return s, err
			}
			if rel == "virtualxid" || rel == "transactionid" {
				continue
			}
			s.locks[mode+" "+rel] = true
			if s.xactStart.IsZero() {
				s.xactStart = start
			}
			// The erasure has locked the subject's conversations and begun
			// to delete (attachments are its first step).
			if mode == "RowExclusiveLock" && rel == "attachments" && started != nil {
				close(started)
				started = nil
			}
		}
		if err := rows.Err(); err != nil {
			return s, err
		}
		var waiting int
		var events []string
		if err := conn.QueryRow(ctx, `SELECT count(*), COALESCE(array_agg(DISTINCT wait_event), '{}') FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND datname = current_database() AND application_name <> 'bench-probe'`).Scan(&waiting, &events); err != nil {
			return s, err
		}
		s.maxWaiting = max(s.maxWaiting, waiting)
		for _, e := range events {
			s.waitedOn[e] = true
		}
		s.samples++
		time.Sleep(2 * time.Millisecond)
	}
}

// inboxLoop is what the rest of the workspace does meanwhile: list the
// open conversations newest first, and add an incoming message to another
// contact's conversation (bumping its last_message_at), every 5 ms. It
// runs n rounds, or until stop.
func inboxLoop(ctx context.Context, pool *pgxpool.Pool, firstConv int64, conversations int, stop <-chan struct{}, n int) ([]time.Duration, error) {
	var out []time.Duration
	for i := 0; n == 0 || i < n; i++ {
		select {
		case <-stop:
			return out, nil
		default:
		}
		t0 := time.Now()
		rows, err := pool.Query(ctx, `SELECT c.id, c.subject, ct.name FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
			WHERE c.status = 'open' ORDER BY c.last_message_at DESC, c.id DESC LIMIT 50`)
		if err != nil {
			return out, err
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return out, err
		}
		conv := firstConv + int64(i%conversations)
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO messages (conversation_id, channel, direction, body) VALUES ($1, 'api', 'incoming', 'Loop message')`, conv); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE conversations SET last_message_at = now() WHERE id = $1`, conv)
			return err
		})
		if err != nil {
			return out, err
		}
		out = append(out, time.Since(t0))
		time.Sleep(5 * time.Millisecond)
	}
	return out, nil
}

func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := min(max((len(s)*p+99)/100, 1), len(s))
	return s[i-1].Round(100 * time.Microsecond).String()
}
