// Package dump takes a tenant database into an encrypted backup artifact
// and brings one back: pg_dump -Fc, run as the tenant's own role, streams
// through the artifact writer (docs/backup-format.md) into any io.Writer,
// and pg_restore reads the decrypted stream into a database.
//
// The rows of every table are counted in the very snapshot pg_dump dumps
// (an exported snapshot held open for the dump), while pg_dump runs, so a
// verification restore can compare counts exactly, whatever the tenant
// wrote meanwhile. The counts travel in the artifact's authenticated header
// metadata.
package dump

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/controllers/backup/artifact"
)

// Database is where a dump comes from or a restore goes to. The password is
// handed to pg_dump and pg_restore in their environment, never in arguments
// (which other users of the host can read), nor in any error.
type Database struct {
	Host     string
	Port     int
	Name     string
	User     string
	Password string
}

// Connect opens a connection to d, for work on a restored database.
func (d Database) Connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, d.dsn())
	if err != nil {
		return nil, fmt.Errorf("connecting to database %s as %s: %w", d.Name, d.User, scrub(err, d.Password))
	}
	return conn, nil
}

// ConnString is a pgx connection string for d. It holds the password:
// never log or print it.
func (d Database) ConnString() string { return d.dsn() }

// dsn is a pgx DSN for d.
func (d Database) dsn() string {
	return fmt.Sprintf("host=%s port=%d dbname=%s user=%s password=%s sslmode=prefer",
		quote(d.Host), d.Port, quote(d.Name), quote(d.User), quote(d.Password))
}

func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// env is the environment of pg_dump and pg_restore for d: libpq's
// variables, and nothing inherited that could redirect them.
func (d Database) env() []string {
	return []string{
		"PGHOST=" + d.Host, "PGPORT=" + strconv.Itoa(d.Port), "PGDATABASE=" + d.Name,
		"PGUSER=" + d.User, "PGPASSWORD=" + d.Password, "PGSSLMODE=prefer",
		"PGAPPNAME=switchboard-backup", "PGCONNECT_TIMEOUT=10",
	}
}

// Metadata is what an artifact's header records about its dump.
type Metadata struct {
	// Database is the dumped database's name.
	Database string `json:"database"`
	// RowCounts is the number of rows of each table ("schema.table") in the
	// snapshot that was dumped.
	RowCounts map[string]int64 `json:"rowCounts"`
	// DumpedAt is when the snapshot was taken.
	DumpedAt time.Time `json:"dumpedAt"`
	// Compression is pg_dump's -Z level.
	Compression int `json:"compression"`
}

// Result describes a dump written as an artifact.
type Result struct {
	Metadata Metadata
	// Size is the artifact's size in bytes and SHA256 its digest, hex.
	Size   int64
	SHA256 string
	// DumpBytes is the size of pg_dump's output, before encryption.
	DumpBytes int64
	Duration  time.Duration
}

// Options of a dump.
type Options struct {
	// PgDump is the pg_dump binary (default: pg_dump on PATH).
	PgDump string
	// Compression is pg_dump's -Z level, 0 to 9 (default 1: on this kind of
	// machine about twice as fast as the default 6 for 6 % more bytes).
	Compression *int
	// Header is the artifact's header but for Metadata, which Dump fills.
	Header artifact.Header
	// DataKey is the plaintext data key; Dump does not keep it.
	DataKey []byte
}

// Dump writes an encrypted artifact of db to w. On any failure it has
// written no complete artifact (the final chunk is never sealed), and says
// so; the caller removes what w received.
func Dump(ctx context.Context, db Database, o Options, w io.Writer) (*Result, error) {
	start := time.Now()
	level := 1
	if o.Compression != nil {
		level = *o.Compression
	}
	if level < 0 || level > 9 {
		return nil, fmt.Errorf("dump: compression level %d is not 0 to 9", level)
	}
	bin := o.PgDump
	if bin == "" {
		bin = "pg_dump"
	}

	// A snapshot held open in a REPEATABLE READ transaction: the counts below
	// and pg_dump --snapshot see exactly the same rows.
	conn, err := pgx.Connect(ctx, db.dsn())
	if err != nil {
		return nil, fmt.Errorf("dump: connecting to database %s as %s: %w", db.Name, db.User, scrub(err, db.Password))
	}
	defer conn.Close(context.Background())
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("dump: starting the snapshot: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read-only
	var snapshot string
	if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snapshot); err != nil {
		return nil, fmt.Errorf("dump: exporting the snapshot: %w", err)
	}
	dumpedAt := time.Now().UTC().Truncate(time.Second)
	tables, err := listTables(ctx, tx)
	if err != nil {
		return nil, err
	}
	if err := prepareCounts(ctx, tx, tables); err != nil {
		return nil, err
	}

	// pg_dump starts at once, and the rows are counted meanwhile, on this
	// connection. The counts go into the header, which comes first, so
	// pg_dump's output waits in memory until they are known.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pd, err := startPgDump(ctx, bin, db, level, snapshot)
	if err != nil {
		return nil, err
	}
	defer pd.stop()
	done := make(chan countResult, 1)
	go func() {
		var r countResult
		if testHooks.count != nil {
			r.err = testHooks.count(ctx)
		}
		if r.err == nil {
			r.counts, r.err = countTables(ctx, tx, tables)
		}
		done <- r
	}()
	var counted *countResult
	awaitCounts := func() countResult {
		if counted == nil {
			r := <-done
			counted = &r
		}
		return *counted
	}
	// Whatever happens, the counts end before the connection is closed.
	defer func() { cancel(); awaitCounts() }()

	src := &batchReader{f: pd.out, size: pd.pipeSize}
	var early [][]byte // pg_dump's output before the counts are known
	defer func() {
		for _, b := range early {
			clear(b[:cap(b)])
		}
	}()
	held, eof := 0, false
	for counted == nil {
		select {
		case r := <-done:
			counted = &r
			continue
		default:
		}
		if held >= earlyLimit {
			awaitCounts() // pg_dump waits on its full pipe meanwhile
			continue
		}
		if eof {
			// pg_dump has ended: if it failed, the counts are moot.
			if err := pd.wait(); err != nil {
				return nil, err
			}
			awaitCounts()
			continue
		}
		if len(early) == 0 || len(early[len(early)-1]) == cap(early[len(early)-1]) {
			early = append(early, make([]byte, 0, min(earlyBlock, earlyLimit-held)))
		}
		b := &early[len(early)-1]
		n, err := src.Read((*b)[len(*b):cap(*b)])
		*b = (*b)[:len(*b)+n]
		held += n
		if testHooks.read != nil {
			testHooks.read(held)
		}
		if err == io.EOF {
			eof = true
		} else if err != nil {
			return nil, fmt.Errorf("dump: reading pg_dump's output: %w", err)
		}
	}
	if counted.err != nil {
		return nil, counted.err
	}

	meta := Metadata{Database: db.Name, RowCounts: counted.counts, DumpedAt: dumpedAt, Compression: level}
	h := o.Header
	if h.Metadata, err = json.Marshal(meta); err != nil {
		return nil, err
	}
	sum := sha256.New()
	counter := &countingWriter{}
	aw, err := artifact.NewWriter(io.MultiWriter(w, sum, counter), h, o.DataKey)
	if err != nil {
		return nil, fmt.Errorf("dump: %w", err)
	}
	defer aw.Abort() // a no-op once closed
	for _, b := range early {
		if _, err := aw.Write(b); err != nil {
			return nil, fmt.Errorf("dump: %w", err)
		}
	}
	dumpBytes := int64(held)
	if !eof {
		n, err := aw.ReadFrom(src)
		dumpBytes += n
		if err != nil {
			return nil, fmt.Errorf("dump: streaming pg_dump's output: %w", err)
		}
	}
	if err := pd.wait(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("dump: finishing the artifact: %w", err)
	}
	return &Result{Metadata: meta, Size: counter.n, SHA256: hex.EncodeToString(sum.Sum(nil)),
		DumpBytes: dumpBytes, Duration: time.Since(start)}, nil
}

// earlyLimit bounds pg_dump's output that Dump holds in memory while the
// rows are counted; past it, pg_dump waits on its full pipe until the
// counts are known. The counts read the tables some fifteen times as fast
// as pg_dump -Z1 dumps them, so pg_dump writes roughly a fiftieth of the
// database's size meanwhile: 32 MiB covers databases of about 1.5 GiB
// without a wait, and a few dumps at once (--max-concurrent-backups) stay
// well inside the operator's memory limit.
var earlyLimit = 32 << 20

// earlyBlock is the size of each block of that memory, taken as needed.
const earlyBlock = 1 << 20

// testHooks let tests slow the counts down or make them fail (count runs
// before them), and see how much of pg_dump's output waits for them (read
// runs after each read that does).
var testHooks struct {
	count func(context.Context) error
	read  func(held int)
}

type countResult struct {
	counts map[string]int64
	err    error
}

// pgDump is a running pg_dump, whose archive Dump reads from out.
type pgDump struct {
	cmd *exec.Cmd
	out *os.File
	// pipeSize is the pipe's capacity, 0 if not enlarged (see outputPipe).
	pipeSize int
	db       Database
	stderr   bytes.Buffer
	waited   bool
	err      error
}

func startPgDump(ctx context.Context, bin string, db Database, level int, snapshot string) (*pgDump, error) {
	r, w, size, err := outputPipe()
	if err != nil {
		return nil, fmt.Errorf("dump: making pg_dump's output pipe: %w", err)
	}
	p := &pgDump{out: r, pipeSize: size, db: db}
	p.cmd = exec.CommandContext(ctx, bin, "--format=custom", "--compress="+strconv.Itoa(level),
		"--snapshot="+snapshot, "--no-password")
	p.cmd.Env = append(db.env(), "PATH="+os.Getenv("PATH"))
	// An *os.File: pg_dump writes straight into the pipe, and no goroutine
	// of os/exec copies it.
	p.cmd.Stdout = w
	p.cmd.Stderr = &limitedWriter{w: &p.stderr, n: 8 << 10}
	err = p.cmd.Start()
	// Only pg_dump holds the write end now, so its exit ends the output.
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("dump: starting pg_dump of %s: %w", db.Name, err)
	}
	return p, nil
}

// wait reaps pg_dump, once its output has ended or it was killed, and
// says how it ended, without the password.
func (p *pgDump) wait() error {
	if !p.waited {
		p.waited = true
		p.err = p.cmd.Wait()
		p.out.Close()
	}
	if p.err != nil {
		return fmt.Errorf("dump: pg_dump of %s failed: %v: %s", p.db.Name, p.err, scrub(errors.New(strings.TrimSpace(p.stderr.String())), p.db.Password))
	}
	return nil
}

// stop kills pg_dump if it was not reaped yet, and reaps it.
func (p *pgDump) stop() {
	if !p.waited {
		p.cmd.Process.Kill() //nolint:errcheck // it may have exited
		p.wait()             //nolint:errcheck // stopped on another failure
	}
}

type table struct{ schema, name string }

// listTables lists every ordinary and partitioned-leaf table outside the
// system schemas.
func listTables(ctx context.Context, tx pgx.Tx) ([]table, error) {
	rows, err := tx.Query(ctx, `
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("dump: listing tables: %w", err)
	}
	var tables []table
	for rows.Next() {
		var t table
		if err := rows.Scan(&t.schema, &t.name); err != nil {
			return nil, fmt.Errorf("dump: listing tables: %w", err)
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dump: listing tables: %w", err)
	}
	return tables, nil
}

// prepareCounts readies tx to count tables while pg_dump runs. It takes
// the share locks of the counts before pg_dump starts, as counting first
// did: a count that waited for a lock after pg_dump took its own could
// queue behind a tenant's ALTER TABLE that waits for pg_dump, which would
// wait, on its full pipe, for the counts. And it keeps the counts to one
// process: they run beside pg_dump and need only end before earlyLimit
// fills, so parallel workers would take cores from pg_dump's backend (and
// from other tenants of the server) for nothing. On 2 cores, without them,
// the counts also end sooner.
func prepareCounts(ctx context.Context, tx pgx.Tx, tables []table) error {
	if _, err := tx.Exec(ctx, "SET LOCAL max_parallel_workers_per_gather = 0"); err != nil {
		return fmt.Errorf("dump: preparing the row counts: %w", err)
	}
	if len(tables) == 0 {
		return nil
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = pgx.Identifier{t.schema, t.name}.Sanitize()
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE ONLY "+strings.Join(names, ", ")+" IN ACCESS SHARE MODE"); err != nil {
		return fmt.Errorf("dump: locking the tables to count: %w", err)
	}
	return nil
}

// countTables counts the rows of tables in tx's snapshot.
func countTables(ctx context.Context, tx pgx.Tx, tables []table) (map[string]int64, error) {
	counts := make(map[string]int64, len(tables))
	for _, t := range tables {
		var n int64
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{t.schema, t.name}.Sanitize()).Scan(&n); err != nil {
			return nil, fmt.Errorf("dump: counting rows of %s.%s: %w", t.schema, t.name, err)
		}
		counts[t.schema+"."+t.name] = n
	}
	return counts, nil
}

// countRows counts the rows of every table listTables lists, in tx's
// snapshot.
func countRows(ctx context.Context, tx pgx.Tx) (map[string]int64, error) {
	tables, err := listTables(ctx, tx)
	if err != nil {
		return nil, err
	}
	return countTables(ctx, tx, tables)
}

// RestoreOptions of a restore.
type RestoreOptions struct {
	// PgRestore is the pg_restore binary (default: pg_restore on PATH).
	PgRestore string
	// DataKey is the plaintext data key the artifact's header names.
	DataKey []byte
	// Owner, if set, owns every restored object (--no-owner --role=Owner).
	Owner string
}

// Restore reads an artifact from r and restores it into db, which should be
// empty and scratch: the plaintext stream is authenticated chunk by chunk,
// so a damaged artifact is refused only once pg_restore has read what came
// before the damage. The caller drops db on any error. It returns the
// metadata of the header and the rows counted in db after the restore.
func Restore(ctx context.Context, db Database, o RestoreOptions, r io.Reader) (*Metadata, map[string]int64, error) {
	h, err := artifact.ReadHeader(r)
	if err != nil {
		return nil, nil, fmt.Errorf("restore: %w", err)
	}
	var meta Metadata
	if err := json.Unmarshal(h.Metadata, &meta); err != nil {
		return nil, nil, fmt.Errorf("restore: the artifact's metadata does not parse: %w", err)
	}
	ar, err := artifact.NewReader(r, h, o.DataKey)
	if err != nil {
		return nil, nil, fmt.Errorf("restore: %w", err)
	}
	bin := o.PgRestore
	if bin == "" {
		bin = "pg_restore"
	}
	args := []string{"--dbname=" + db.Name, "--no-password", "--exit-on-error", "--single-transaction"}
	if o.Owner != "" {
		args = append(args, "--no-owner", "--no-privileges", "--role="+o.Owner)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(db.env(), "PATH="+os.Getenv("PATH"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = &limitedWriter{w: &stderr, n: 8 << 10}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("restore: starting pg_restore: %w", err)
	}
	_, copyErr := io.Copy(stdin, ar)
	stdin.Close()
	waitErr := cmd.Wait()
	if copyErr != nil {
		// The artifact is damaged: whatever pg_restore made of the part
		// before the damage was one transaction, rolled back as its input
		// broke off; the caller drops the scratch database anyway.
		return nil, nil, fmt.Errorf("restore: %w", copyErr)
	}
	if waitErr != nil {
		return nil, nil, fmt.Errorf("restore: pg_restore into %s failed: %v: %s", db.Name, waitErr, scrub(errors.New(strings.TrimSpace(stderr.String())), db.Password))
	}
	conn, err := pgx.Connect(ctx, db.dsn())
	if err != nil {
		return nil, nil, fmt.Errorf("restore: connecting to %s: %w", db.Name, scrub(err, db.Password))
	}
	defer conn.Close(context.Background())
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read-only
	counts, err := countRows(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	return &meta, counts, nil
}

// CountsDiffer lists the tables whose counts differ, "table: want N, got M".
func CountsDiffer(want, got map[string]int64) []string {
	var out []string
	for t, n := range want {
		if g, ok := got[t]; !ok || g != n {
			out = append(out, fmt.Sprintf("%s: want %d, got %d", t, n, g))
		}
	}
	for t, g := range got {
		if _, ok := want[t]; !ok {
			out = append(out, fmt.Sprintf("%s: want none, got %d", t, g))
		}
	}
	return out
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.(\d+))?`)

// ToolVersion is the major version of pg_dump or pg_restore, from --version.
func ToolVersion(ctx context.Context, bin string) (int, error) {
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("%s --version: %w", bin, err)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("%s --version printed no PostgreSQL version", bin)
	}
	return strconv.Atoi(string(m[1]))
}

// CheckTool says whether bin is at least the server's major version, as
// pg_dump must be to dump it.
func CheckTool(ctx context.Context, bin string, serverMajor int) error {
	v, err := ToolVersion(ctx, bin)
	if err != nil {
		return err
	}
	if v < serverMajor {
		return fmt.Errorf("%s is version %d, older than the server's %d: it cannot dump it", bin, v, serverMajor)
	}
	return nil
}

// transactionTimeoutMajor is the first major version whose pg_restore sets
// transaction_timeout on its session, which older servers refuse: every
// restore into one of them fails before it starts.
const transactionTimeoutMajor = 17

// CheckTools says whether pgDump and pgRestore can back up and restore every
// server of serverMajors (server name to PostgreSQL major version): each must
// run; pg_dump must be at least each server's version, as it refuses newer
// servers; pg_restore must read what that pg_dump writes, so be at least its
// version; and pg_restore 17 or newer cannot restore into a server before
// 17. The error names each tool that is missing or does not fit, and the
// server it does not fit, in one line; it is nil when all is well.
func CheckTools(ctx context.Context, pgDump, pgRestore string, serverMajors map[string]int) error {
	var problems []string
	dumpV, err := ToolVersion(ctx, pgDump)
	if err != nil {
		problems = append(problems, "pg_dump cannot be run: "+err.Error())
	}
	restoreV, err := ToolVersion(ctx, pgRestore)
	if err != nil {
		problems = append(problems, "pg_restore cannot be run: "+err.Error())
	}
	if dumpV > 0 && restoreV > 0 && restoreV < dumpV {
		problems = append(problems, fmt.Sprintf("pg_restore %s is version %d, older than pg_dump %s (%d): it cannot read its archives", pgRestore, restoreV, pgDump, dumpV))
	}
	servers := make([]string, 0, len(serverMajors))
	for s := range serverMajors {
		servers = append(servers, s)
	}
	sort.Strings(servers)
	for _, s := range servers {
		major := serverMajors[s]
		if dumpV > 0 && dumpV < major {
			problems = append(problems, fmt.Sprintf("pg_dump %s is version %d, older than server %s (PostgreSQL %d): it cannot dump it", pgDump, dumpV, s, major))
		}
		switch {
		case restoreV == 0:
		case restoreV < major:
			problems = append(problems, fmt.Sprintf("pg_restore %s is version %d, older than server %s (PostgreSQL %d): it cannot read that server's dumps", pgRestore, restoreV, s, major))
		case restoreV >= transactionTimeoutMajor && major < transactionTimeoutMajor:
			problems = append(problems, fmt.Sprintf("pg_restore %s is version %d, newer than server %s (PostgreSQL %d): it sets transaction_timeout, which that server does not know, so every restore into it would fail; use pg_dump and pg_restore of version %d", pgRestore, restoreV, s, major, major))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// scrub removes the password from an error's text.
func scrub(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "<redacted>"))
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.w == nil {
		c.n += int64(len(p))
		return len(p), nil
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// limitedWriter keeps the first n bytes and drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k]) //nolint:errcheck // a bytes.Buffer
		l.n -= k
	}
	return len(p), nil
}
