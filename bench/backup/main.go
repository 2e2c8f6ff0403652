// Command backup measures encrypted backups against real dependencies
// (PostgreSQL 15, a Vault transit key, a versitygw S3 server), in one run:
//
//   - dump throughput: dump.Dump (pg_dump -Fc through the chunked AES-256-GCM
//     artifact writer) against plain pg_dump -Fc at the same -Z level, on the
//     same generated database of realistic rows, interleaved;
//   - restore time: dump.Restore of the encrypted artifact against plain
//     pg_restore of the plain dump, each into a fresh empty database;
//   - garbage collection: store.Purge of many small artifacts in an S3
//     bucket, at a given concurrency;
//   - garbage collection through the controller: the operator (run in this
//     process, against its own PostgreSQL, Vault, etcd and kube-apiserver)
//     keeps many Completed Backups of many workspaces in a versitygw bucket
//     (one it takes, the others are written like it, or all taken with
//     -gc-take-backups); then its clock moves past their expiry, and the
//     time until every Backup is gone and the bucket is empty is measured.
//
// Progress goes to stderr, the table to stdout. Everything it starts or
// creates (servers, databases, temp folders) is removed at the end, and
// nothing is cached between runs.
//
//	go run ./bench/backup [-size-mb 500] [-compress 1] [-runs 3] [-concurrency 8] [-gc-backups 1000] [-gc-workspaces 100]
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/controllers/backup/artifact"
	"github.com/switchboard-dev/switchboard/controllers/backup/dump"
	"github.com/switchboard-dev/switchboard/controllers/backup/store"
	"github.com/switchboard-dev/switchboard/controllers/vault"
	"github.com/switchboard-dev/switchboard/test/harness"
)

type config struct {
	sizeMB      int
	compress    int
	runs        int
	restoreRuns int
	artifacts   int
	artifactKB  int
	concurrency int
	seed        uint64
	// The GC-through-the-controller part.
	gcController   bool
	gcBackups      int
	gcWorkspaces   int
	gcSetupBackups int
	gcTakeBackups  bool
}

func main() {
	var c config
	flag.IntVar(&c.sizeMB, "size-mb", 500, "size of the generated database in MiB (pg_database_size, indexes included)")
	flag.IntVar(&c.compress, "compress", 1, "pg_dump -Z level, the same for the encrypted and the plain dump")
	flag.IntVar(&c.runs, "runs", 3, "timed dumps of each kind, interleaved (at least 2)")
	flag.IntVar(&c.restoreRuns, "restore-runs", 2, "timed restores of each kind, interleaved")
	flag.IntVar(&c.artifacts, "artifacts", 1000, "artifacts put (untimed) and then purged (timed) in the S3 store")
	flag.IntVar(&c.artifactKB, "artifact-kb", 16, "plaintext size of each purged artifact, in KiB")
	flag.IntVar(&c.concurrency, "concurrency", 8, "concurrent purges (and untimed puts)")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the generated rows: the same seed gives the same database")
	flag.BoolVar(&c.gcController, "gc-controller", true, "also measure GC through the operator's expiry controller (starts etcd and kube-apiserver)")
	flag.IntVar(&c.gcBackups, "gc-backups", 1000, "Backups expired at once in the GC-through-the-controller part")
	flag.IntVar(&c.gcWorkspaces, "gc-workspaces", 100, "workspaces the GC part's Backups are spread over")
	flag.BoolVar(&c.gcTakeBackups, "gc-take-backups", false, "have the operator take every one of the GC part's Backups (about 2 a second on 2 cores) instead of one, with the others written like it")
	flag.IntVar(&c.gcSetupBackups, "gc-setup-backups", 4, "--max-concurrent-backups of the operator while it takes the GC part's backups (untimed)")
	flag.Parse()
	if c.runs < 2 || c.restoreRuns < 1 || c.artifacts < 1 || c.concurrency < 1 || c.sizeMB < 1 || c.compress < 0 || c.compress > 9 ||
		c.gcBackups < 1 || c.gcWorkspaces < 1 || c.gcWorkspaces > 1000 || c.gcSetupBackups < 1 {
		fmt.Fprintln(os.Stderr, "bench: -runs must be at least 2, -compress 0 to 9, -gc-workspaces at most 1000, and the other counts at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: "+err.Error())
		os.Exit(1)
	}
}

func progress(msg string) { fmt.Fprintln(os.Stderr, "bench: "+msg) }

// tenant is the source database and the role that owns it, as the operator
// provisions a workspace: dumps and restores run as that role.
type tenant struct {
	pg       *harness.Postgres
	user     string
	password string
}

func (t tenant) db(name string) dump.Database {
	return dump.Database{Host: "127.0.0.1", Port: t.pg.Port, Name: name, User: t.user, Password: t.password}
}

// env is the environment plain pg_dump and pg_restore run with: the same
// libpq variables dump.Dump and dump.Restore give theirs.
func (t tenant) env(name string) []string {
	return []string{
		"PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(t.pg.Port), "PGDATABASE=" + name,
		"PGUSER=" + t.user, "PGPASSWORD=" + t.password, "PGSSLMODE=prefer",
		"PGAPPNAME=switchboard-bench", "PGCONNECT_TIMEOUT=10", "PATH=" + os.Getenv("PATH"),
	}
}

// bench is what the three measurements share.
type bench struct {
	c     config
	tmp   string
	admin *pgx.Conn
	tn    tenant
	vc    *vault.Client
	// scratch lists the databases to drop at the end.
	scratch []string
}

// The database a run generates, and the transit key its data keys come
// from.
const (
	sourceDB   = "bench_tenant"
	transitKey = "ws-bench-0b5e7a1c"
)

func run(ctx context.Context, c config) error {
	load0 := loadavg()
	tools := []string{"vault", "versitygw"}
	if c.gcController {
		tools = append(tools, "etcd", "kube-apiserver")
	}
	for _, tool := range tools {
		if _, err := harness.Bin(tool); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "switchboard-bench-backup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	progress("starting PostgreSQL 15 and Vault")
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
	defer admin.Close(context.Background())
	b := &bench{c: c, tmp: tmp, admin: admin}
	defer func() {
		for _, name := range b.scratch {
			dropDatabase(admin, name)
		}
	}()
	if err := checkTools(ctx, admin); err != nil {
		return err
	}
	if b.vc, err = transitClient(ctx, v); err != nil {
		return err
	}

	// The tenant: a role that owns its database and fills it, as the
	// operator provisions a workspace; dumps and restores run as that role.
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	b.tn = tenant{pg: pg, user: "bench_tenant", password: hex.EncodeToString(pw)}
	for _, sql := range []string{
		"CREATE ROLE " + b.tn.user + " LOGIN PASSWORD '" + b.tn.password + "'",
		"CREATE DATABASE " + sourceDB + " OWNER " + b.tn.user,
		"REVOKE ALL ON DATABASE " + sourceDB + " FROM PUBLIC",
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			return fmt.Errorf("creating the tenant: %w", err)
		}
	}
	b.scratch = append(b.scratch, sourceDB)
	db, err := b.generate(ctx)
	if err != nil {
		return err
	}
	dumps, err := b.dumps(ctx, db.size)
	if err != nil {
		return err
	}
	restores, err := b.restores(ctx, dumps)
	if err != nil {
		return err
	}
	gc, err := b.purge(ctx)
	if err != nil {
		return err
	}
	var gcc *gcControllerResult
	if c.gcController {
		if gcc, err = b.gcController(ctx); err != nil {
			return fmt.Errorf("GC through the controller: %w", err)
		}
	}
	report(c, load0+" at start, "+loadavg()+" at end", db, dumps, restores, gc, gcc)
	return nil
}

// checkTools checks that pg_dump and pg_restore can dump the server.
func checkTools(ctx context.Context, admin *pgx.Conn) error {
	var num string
	if err := admin.QueryRow(ctx, "SELECT current_setting('server_version_num')").Scan(&num); err != nil {
		return err
	}
	major, err := strconv.Atoi(num)
	if err != nil {
		return err
	}
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if err := dump.CheckTool(ctx, tool, major/10000); err != nil {
			return err
		}
	}
	return nil
}

// transitClient mounts transit and creates the tenant's transit key; the
// data keys then come through the operator's own client and token, as a
// backup's would.
func transitClient(ctx context.Context, v *harness.Vault) (*vault.Client, error) {
	root, err := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
	if err != nil {
		return nil, err
	}
	root.SetToken(harness.RootToken)
	if err := root.Sys().MountWithContext(ctx, "transit", &vaultapi.MountInput{Type: "transit"}); err != nil {
		return nil, fmt.Errorf("mounting transit: %w", err)
	}
	vc, err := vault.New(vault.Config{Address: v.Addr(), Token: harness.OperatorToken, TransitMount: "transit"}, nil)
	if err != nil {
		return nil, err
	}
	return vc, vc.EnsureTransitKey(ctx, transitKey)
}

type dbResult struct {
	size, tableSize int64
	rows            [3]int64
	took            time.Duration
}

// generate fills the tenant database up to -size-mb.
func (b *bench) generate(ctx context.Context) (*dbResult, error) {
	progress(fmt.Sprintf("generating a %d MiB tenant database (seed %d)", b.c.sizeMB, b.c.seed))
	t0 := time.Now()
	conn, err := pgx.Connect(ctx, b.tn.pg.DSN(b.tn.user, b.tn.password, sourceDB))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	r := &dbResult{}
	if r.rows, err = load(ctx, conn, b.c.seed, int64(b.c.sizeMB)<<20, progress); err != nil {
		return nil, err
	}
	r.took = time.Since(t0)
	if err := conn.QueryRow(ctx, `SELECT pg_database_size(current_database()),
		(SELECT sum(pg_table_size(c.oid))::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.relkind = 'r' AND n.nspname = 'public')`).Scan(&r.size, &r.tableSize); err != nil {
		return nil, err
	}
	progress(fmt.Sprintf("database ready in %s: %d MiB (%d MiB of tables, the rest indexes)", r.took.Round(time.Second), r.size>>20, r.tableSize>>20))
	return r, nil
}

type dumpResult struct {
	// times and cpu (of this process) per kind: plain, streamed, encrypted.
	times, cpu map[string][]time.Duration
	// rawSize is the -Z0 dump's size, plainSize the -Z level's.
	rawSize, plainSize int64
	// last is the last encrypted dump, whose file the restores read.
	last                 *dump.Result
	plainFile, encFile   string
	countTime, cryptTime time.Duration
}

// dumps times plain and encrypted dumps, interleaved.
func (b *bench) dumps(ctx context.Context, dbSize int64) (*dumpResult, error) {
	// An untimed -Z0 dump warms the caches and gives the uncompressed size,
	// hence how well the rows compress.
	progress("untimed warm-up: pg_dump -Fc -Z0, for the uncompressed size")
	var raw countingWriter
	if err := plainDump(ctx, b.tn, sourceDB, 0, &raw); err != nil {
		return nil, err
	}

	// The timed dumps, interleaved, rotating which kind goes first. All
	// write a file in the same temp folder; the file is fsynced after the
	// clock stops, so that one run's writeback does not land in the next.
	// "streamed" is plain pg_dump whose output goes through this process
	// the simple way (os/exec copies it from a pipe, 32 KiB at a time),
	// without encryption or row counts: the cost of a naive stream, which
	// Dump avoids by reading pg_dump's pipe itself, in large reads.
	r := &dumpResult{
		times: map[string][]time.Duration{}, cpu: map[string][]time.Duration{}, rawSize: raw.n,
		plainFile: filepath.Join(b.tmp, "plain.dump"), encFile: filepath.Join(b.tmp, "encrypted.swbk"),
	}
	streamFile := filepath.Join(b.tmp, "streamed.dump")
	defer os.Remove(streamFile)
	kinds := []string{"plain", "streamed", "encrypted"}
	for i := 0; i < b.c.runs; i++ {
		for j := range kinds {
			kind := kinds[(i+j)%len(kinds)]
			var d time.Duration
			var err error
			cpu0 := selfCPU()
			switch kind {
			case "plain":
				d, r.plainSize, err = timedPlainDump(ctx, b.tn, sourceDB, b.c.compress, r.plainFile, false)
			case "streamed":
				d, _, err = timedPlainDump(ctx, b.tn, sourceDB, b.c.compress, streamFile, true)
			case "encrypted":
				d, r.last, err = timedEncryptedDump(ctx, b.tn, sourceDB, b.c.compress, b.vc, r.encFile)
			}
			if err != nil {
				return nil, err
			}
			r.times[kind] = append(r.times[kind], d)
			r.cpu[kind] = append(r.cpu[kind], selfCPU()-cpu0)
			progress(fmt.Sprintf("dump round %d/%d: %s %s (%.0f MiB/s of database)", i+1, b.c.runs, kind, d.Round(time.Millisecond), mibps(dbSize, d)))
		}
	}

	// Dump's own work, measured apart: it counts every table's rows in its
	// snapshot (while pg_dump runs), and encrypts and hashes what pg_dump
	// writes.
	progress("measuring Dump's parts: the row counts, and encryption with hashing")
	var err error
	if r.countTime, err = timeCounts(ctx, b.tn, sourceDB); err != nil {
		return nil, err
	}
	if r.cryptTime, err = timeEncrypt(r.plainFile); err != nil {
		return nil, err
	}
	return r, nil
}

type restoreResult struct {
	plain, encrypted []time.Duration
}

// restores times restores of the last dumps, each into a fresh empty
// database owned by the tenant, with dump.Restore's pg_restore options.
func (b *bench) restores(ctx context.Context, dumps *dumpResult) (*restoreResult, error) {
	defer os.Remove(dumps.plainFile)
	defer os.Remove(dumps.encFile)
	r := &restoreResult{}
	for i := 0; i < b.c.restoreRuns; i++ {
		order := []string{"plain", "encrypted"}
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, kind := range order {
			name := fmt.Sprintf("bench_restore_%s_%d", kind, i)
			if _, err := b.admin.Exec(ctx, "CREATE DATABASE "+name+" OWNER "+b.tn.user); err != nil {
				return nil, err
			}
			b.scratch = append(b.scratch, name)
			var d time.Duration
			var err error
			if kind == "plain" {
				d, err = timedPlainRestore(ctx, b.tn, name, dumps.plainFile)
				r.plain = append(r.plain, d)
			} else {
				d, err = timedEncryptedRestore(ctx, b.tn, name, b.vc, dumps.encFile)
				r.encrypted = append(r.encrypted, d)
			}
			if err != nil {
				return nil, err
			}
			// Both restores must give the rows the dump counted.
			if err := checkCounts(ctx, b.tn, name, dumps.last.Metadata.RowCounts); err != nil {
				return nil, fmt.Errorf("%s restore: %w", kind, err)
			}
			progress(fmt.Sprintf("restore round %d/%d: %s %s", i+1, b.c.restoreRuns, kind, d.Round(time.Millisecond)))
			dropDatabase(b.admin, name)
			b.scratch = slices.DeleteFunc(b.scratch, func(s string) bool { return s == name })
			// The next restore does not pay for this one's dirty buffers.
			if _, err := b.admin.Exec(ctx, "CHECKPOINT"); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

func report(c config, load string, db *dbResult, d *dumpResult, r *restoreResult, gc *gcResult, gcc *gcControllerResult) {
	plain, streamed, enc := d.times["plain"], d.times["streamed"], d.times["encrypted"]
	speed := func(t []time.Duration) string {
		return fmt.Sprintf("%s (%.0f MiB/s) / %s (%.0f MiB/s)", best(t), mibps(db.size, best(t)), median(t), mibps(db.size, median(t)))
	}
	row := func(measure, format string, args ...any) {
		fmt.Printf("| %s | %s |\n", measure, fmt.Sprintf(format, args...))
	}
	fmt.Println()
	fmt.Println("| measure | value |")
	fmt.Println("|---|---|")
	row("machine", "%d CPUs (shared with other work), load average %s", runtime.NumCPU(), load)
	row(fmt.Sprintf("tenant database (seed %d)", c.seed), "%d MiB (pg_database_size; %d MiB of tables, the rest indexes): %d contacts, %d conversations, %d messages; generated in %s",
		db.size>>20, db.tableSize>>20, db.rows[0], db.rows[1], db.rows[2], db.took.Round(time.Second))
	row("pg_dump -Fc output", "-Z0 %d MiB, -Z%d %d MiB (%.1f:1); encrypted artifact %d MiB (+%d bytes)",
		d.rawSize>>20, c.compress, d.plainSize>>20, float64(d.rawSize)/float64(d.plainSize), d.last.Size>>20, d.last.Size-d.last.DumpBytes)
	row("sink", "a file in %s (same disk as the database), fsynced after the clock stops", os.TempDir())
	row("data keys", "Vault v1.14.2 transit key, one transit/datakey/plaintext call per artifact (inside the timed dump)")
	row(fmt.Sprintf("plain pg_dump -Fc -Z%d into the file, best / median of %d", c.compress, c.runs), "%s", speed(plain))
	row(fmt.Sprintf("encrypted dump.Dump -Z%d, best / median of %d", c.compress, c.runs), "%s", speed(enc))
	row("ratio encrypted / plain time, best / median (target ≤ 1.05)", "%.3f / %.3f", ratio(enc, plain, best), ratio(enc, plain, median))
	row(fmt.Sprintf("diagnostic: plain pg_dump streamed through this process into the file, best / median of %d", c.runs), "%s", speed(streamed))
	row("diagnostic: ratio encrypted / streamed, best / median", "%.3f / %.3f", ratio(enc, streamed, best), ratio(enc, streamed, median))
	row("every run in order: plain; streamed; encrypted", "%s; %s; %s", list(plain), list(streamed), list(enc))
	row("CPU of this process per dump, median: plain; streamed; encrypted", "%s; %s; %s", median(d.cpu["plain"]), median(d.cpu["streamed"]), median(d.cpu["encrypted"]))
	row("part of Dump: row counts in its snapshot, which Dump takes while pg_dump runs (measured apart)", "%s", d.countTime.Round(time.Millisecond))
	row(fmt.Sprintf("part of Dump: AES-256-GCM + SHA-256 of the %d MiB dump on one core (measured apart)", d.plainSize>>20), "%s", d.cryptTime.Round(time.Millisecond))
	row(fmt.Sprintf("restore: plain pg_restore --single-transaction of the file, best / median of %d", c.restoreRuns), "%s / %s", best(r.plain), median(r.plain))
	row(fmt.Sprintf("restore: dump.Restore (read header, unwrap key in Vault, decrypt into pg_restore --single-transaction, count rows), best / median of %d", c.restoreRuns),
		"%s / %s", best(r.encrypted), median(r.encrypted))
	row("ratio encrypted / plain restore time, best / median", "%.3f / %.3f", ratio(r.encrypted, r.plain, best), ratio(r.encrypted, r.plain, median))
	row(fmt.Sprintf("GC: store.Purge of %d artifacts (%d bytes each) on versitygw, concurrency %d", c.artifacts, gc.size, c.concurrency),
		"%s (%.0f artifacts/s)", gc.total.Round(time.Millisecond), float64(c.artifacts)/gc.total.Seconds())
	row("GC: per-artifact Purge (delete, HEAD NotFound, no multipart upload listed), p50 / p99", "%s / %s", pct(gc.each, 50), pct(gc.each, 99))
	row("GC: left after the purge", "%d objects listed, %d files in the bucket's folder", gc.listed, gc.files)
	if gcc == nil {
		return
	}
	setup := fmt.Sprintf("%d workspaces to DatabaseReady+VaultReady in %s; ", gcc.workspaces, gcc.wsReady.Round(time.Second))
	if gcc.taken {
		setup += fmt.Sprintf("all %d Backups taken by the operator (Manual, %d at a time) in %s", gcc.backups, c.gcSetupBackups, gcc.takenTime.Round(time.Second))
	} else {
		setup += fmt.Sprintf("1 Backup taken by the operator (Manual) in %s; the other %d WRITTEN BY THE BENCHMARK with the operator stopped, like it "+
			"(an artifact of the same size under the workspace's own transit key at the key the controller computes, a Completed status of the same fields, "+
			"the finalizer), then the operator restarted and computed their expiry, in %s (-gc-take-backups has the operator take them all)",
			gcc.takenTime.Round(time.Second), gcc.backups-1, gcc.writtenTime.Round(time.Second))
	}
	row("GC through the controller: setup (untimed)", "%s; %d bytes of artifacts in all", setup, gcc.artifactBytes)
	row(fmt.Sprintf("**GC through the controller**: %d Backups of %d workspaces on versitygw expire at once (clock moved %s past a retainFor of %s, each workspace touched) → every Backup gone and no object or multipart upload under the prefix",
		gcc.backups, gcc.workspaces, gcClockJump, gcRetain), "**%s (%.1f Backups/s)**", gcc.total.Round(time.Millisecond), float64(gcc.backups)/gcc.total.Seconds())
	row("GC through the controller: first Backup gone, p50, p99, last", "%s, %s, %s, %s", gcc.first.Round(time.Millisecond), pct(gcc.each, 50), pct(gcc.each, 99), gcc.gone.Round(time.Millisecond))
	row("GC through the controller: purge receipts", "%d backup.purged entries in the receipt log (about %d segments); %d Backups without one", gcc.receipts, gcc.receiptMaps, gcc.missingReceipts)
	row("GC through the controller: left in the bucket", "%d objects listed, %d multipart uploads listed, %d files in the bucket's folder", gcc.objects, gcc.uploads, gcc.files)
	row("GC through the controller: reconciles while timed (controller-runtime's metrics)", "%s", strings.Join(gcc.reconciles.describe(gcc.total, gcc.backups), "; "))
	errs := "none"
	if len(gcc.errors) > 0 {
		errs = strings.Join(sortedCounts(gcc.errors), "; ")
	}
	row("GC through the controller: \"Reconciler error\" lines in the operator's log while timed", "%s", errs)
}

// plainDump runs pg_dump -Fc as the tenant into w, as an operator without
// encryption would.
func plainDump(ctx context.Context, tn tenant, name string, level int, w io.Writer) error {
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, "pg_dump", "--format=custom", "--compress="+strconv.Itoa(level), "--no-password")
	cmd.Env = tn.env(name)
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pg_dump: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// timedPlainDump writes pg_dump's output to a file: straight, its fastest
// way, or streamed through this process when streamed is set.
func timedPlainDump(ctx context.Context, tn tenant, name string, level int, path string, streamed bool) (time.Duration, int64, error) {
	_ = os.Remove(path) // the last run's, outside the clock
	t0 := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var w io.Writer = f
	if streamed {
		w = struct{ io.Writer }{f} // not an *os.File: os/exec copies from a pipe
	}
	if err := plainDump(ctx, tn, name, level, w); err != nil {
		return 0, 0, err
	}
	d := time.Since(t0)
	return d, fsyncSize(f), nil
}

// timedEncryptedDump is a backup as the operator takes it: a fresh data key
// from Vault, then dump.Dump into the file.
func timedEncryptedDump(ctx context.Context, tn tenant, name string, level int, vc *vault.Client, path string) (time.Duration, *dump.Result, error) {
	_ = os.Remove(path)
	t0 := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	key, wrapped, version, err := vc.DataKey(ctx, transitKey)
	if err != nil {
		return 0, nil, err
	}
	defer clear(key)
	res, err := dump.Dump(ctx, tn.db(name), dump.Options{
		Compression: &level,
		Header:      artifact.Header{TransitKey: transitKey, KeyVersion: version, WrappedKey: wrapped},
		DataKey:     key,
	}, f)
	if err != nil {
		return 0, nil, err
	}
	d := time.Since(t0)
	if size := fsyncSize(f); size != res.Size {
		return 0, nil, fmt.Errorf("the artifact file holds %d bytes, Dump wrote %d", size, res.Size)
	}
	return d, res, nil
}

func fsyncSize(f *os.File) int64 {
	_ = f.Sync()
	st, err := f.Stat()
	if err != nil {
		return -1
	}
	return st.Size()
}

func timedPlainRestore(ctx context.Context, tn tenant, name, path string) (time.Duration, error) {
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, "pg_restore", "--dbname="+name, "--no-password", "--exit-on-error", "--single-transaction", path)
	cmd.Env = tn.env(name)
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("pg_restore: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return time.Since(t0), nil
}

// timedEncryptedRestore is a restore as the operator runs it: read the
// header, have Vault unwrap the data key, then dump.Restore (which also
// counts the restored rows).
func timedEncryptedRestore(ctx context.Context, tn tenant, name string, vc *vault.Client, path string) (time.Duration, error) {
	t0 := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h, err := artifact.ReadHeader(f)
	if err != nil {
		return 0, err
	}
	key, err := vc.UnwrapKey(ctx, h.TransitKey, h.WrappedKey)
	if err != nil {
		return 0, err
	}
	defer clear(key)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	meta, counts, err := dump.Restore(ctx, tn.db(name), dump.RestoreOptions{DataKey: key}, f)
	if err != nil {
		return 0, err
	}
	d := time.Since(t0)
	if diff := dump.CountsDiffer(meta.RowCounts, counts); len(diff) > 0 {
		return 0, fmt.Errorf("restored rows differ from the dump's: %s", strings.Join(diff, "; "))
	}
	return d, nil
}

// timeCounts times row counts as dump.Dump takes them, one count(*) per
// table in a read-only REPEATABLE READ transaction, but alone: Dump takes
// them beside pg_dump, without parallel workers.
func timeCounts(ctx context.Context, tn tenant, name string) (time.Duration, error) {
	conn, err := pgx.Connect(ctx, tn.pg.DSN(tn.user, tn.password, name))
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	t0 := time.Now()
	_, err = countRows(ctx, conn)
	return time.Since(t0), err
}

func countRows(ctx context.Context, conn *pgx.Conn) (map[string]int64, error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read-only
	counts := map[string]int64{}
	for _, table := range []string{"contacts", "conversations", "messages"} {
		var n int64
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{"public", table}.Sanitize()).Scan(&n); err != nil {
			return nil, err
		}
		counts["public."+table] = n
	}
	return counts, nil
}

func checkCounts(ctx context.Context, tn tenant, name string, want map[string]int64) error {
	conn, err := pgx.Connect(ctx, tn.pg.DSN(tn.user, tn.password, name))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	got, err := countRows(ctx, conn)
	if err != nil {
		return err
	}
	if diff := dump.CountsDiffer(want, got); len(diff) > 0 {
		return fmt.Errorf("restored rows differ from the dump's: %s", strings.Join(diff, "; "))
	}
	return nil
}

// timeEncrypt encrypts and hashes the plain dump as Dump does (artifact
// writer, SHA-256 of the artifact), from the page cache to nowhere.
func timeEncrypt(path string) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	key := make([]byte, artifact.KeySize)
	if _, err := rand.Read(key); err != nil {
		return 0, err
	}
	t0 := time.Now()
	aw, err := artifact.NewWriter(io.MultiWriter(io.Discard, sha256.New()),
		artifact.Header{TransitKey: "ws-bench", KeyVersion: 1, WrappedKey: "vault:v1:" + strings.Repeat("A", 60)}, key)
	if err != nil {
		return 0, err
	}
	if _, err := io.Copy(aw, f); err != nil {
		return 0, err
	}
	if err := aw.Close(); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

type gcResult struct {
	size   int64
	total  time.Duration
	each   []time.Duration
	listed int
	files  int
}

// purge puts small artifacts into a versitygw bucket (untimed), then
// times store.Purge of every one of them.
func (b *bench) purge(ctx context.Context) (*gcResult, error) {
	c, vc := b.c, b.vc
	progress("starting versitygw")
	const bucket = "switchboard-bench"
	s3, err := harness.StartS3(filepath.Join(b.tmp, "s3"), bucket)
	if err != nil {
		return nil, err
	}
	defer s3.Close()
	st, err := store.Open(s3.StoreURL(bucket, "backups"), store.Credentials{AccessKeyID: s3.AccessKey, SecretAccessKey: s3.SecretKey})
	if err != nil {
		return nil, err
	}
	if err := st.Ping(ctx); err != nil {
		return nil, err
	}
	key := func(i int) string { return fmt.Sprintf("ws-bench/%04d/backup-20250101T000000Z.swbk", i) }

	progress(fmt.Sprintf("putting %d artifacts of %d KiB (untimed)", c.artifacts, c.artifactKB))
	plaintext := make([]byte, c.artifactKB<<10)
	if _, err := rand.Read(plaintext); err != nil {
		return nil, err
	}
	res := &gcResult{}
	var mu sync.Mutex
	err = parallel(ctx, c.artifacts, c.concurrency, func(i int) error {
		dk, wrapped, version, err := vc.DataKey(ctx, transitKey)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		aw, err := artifact.NewWriter(&buf, artifact.Header{TransitKey: transitKey, KeyVersion: version, WrappedKey: wrapped}, dk)
		clear(dk)
		if err != nil {
			return err
		}
		if _, err := aw.Write(plaintext); err != nil {
			return err
		}
		if err := aw.Close(); err != nil {
			return err
		}
		obj, err := st.Put(ctx, key(i), &buf)
		if err != nil {
			return err
		}
		mu.Lock()
		res.size = obj.Size
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}

	progress(fmt.Sprintf("purging %d artifacts, %d at a time", c.artifacts, c.concurrency))
	each := make([]time.Duration, c.artifacts)
	t0 := time.Now()
	err = parallel(ctx, c.artifacts, c.concurrency, func(i int) error {
		s := time.Now()
		rep, err := st.Purge(ctx, key(i))
		each[i] = time.Since(s)
		if err == nil && !rep.Existed {
			err = fmt.Errorf("purge of %s found nothing to purge", key(i))
		}
		return err
	})
	res.total = time.Since(t0)
	if err != nil {
		return nil, err
	}
	res.each = each

	left, err := st.List(ctx, "")
	if err != nil {
		return nil, err
	}
	res.listed = len(left)
	err = filepath.WalkDir(s3.BucketDir(bucket), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			res.files++
		}
		return err
	})
	return res, err
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first
// error, after which no new call starts.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-inner.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// dropDatabase drops a database even when the run was interrupted.
func dropDatabase(admin *pgx.Conn, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		progress(fmt.Sprintf("dropping database %s: %v", name, err))
	}
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

func mibps(bytes int64, d time.Duration) float64 {
	return float64(bytes) / (1 << 20) / d.Seconds()
}

func best(d []time.Duration) time.Duration {
	return slices.Min(d).Round(time.Millisecond)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return m.Round(time.Millisecond)
}

func list(d []time.Duration) string {
	var parts []string
	for _, x := range d {
		parts = append(parts, strconv.FormatFloat(x.Seconds(), 'f', 2, 64)+" s")
	}
	return strings.Join(parts, ", ")
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1].Round(time.Millisecond)
}

func ratio(a, b []time.Duration, stat func([]time.Duration) time.Duration) float64 {
	return stat(a).Seconds() / stat(b).Seconds()
}

// selfCPU is the user and system CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
