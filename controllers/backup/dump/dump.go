// Package dump takes a tenant database into an encrypted backup artifact
// and brings one back: pg_dump -Fc, run as the tenant's own role, streams
// through the artifact writer (docs/backup-format.md) into any io.Writer,
// and pg_restore reads the decrypted stream into a database.
//
// The rows of every table are counted in the very snapshot pg_dump dumps
// (an exported snapshot held open for the dump), so a verification restore
// can compare counts exactly, whatever the tenant wrote meanwhile. The counts
// travel in the artifact's authenticated header metadata.
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
	counts, err := countRows(ctx, tx)
	if err != nil {
		return nil, err
	}
	meta := Metadata{Database: db.Name, RowCounts: counts, DumpedAt: time.Now().UTC().Truncate(time.Second), Compression: level}
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
	plain := &countingWriter{w: aw}

	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--format=custom", "--compress="+strconv.Itoa(level),
		"--snapshot="+snapshot, "--no-password")
	cmd.Env = append(db.env(), "PATH="+os.Getenv("PATH"))
	cmd.Stdout = plain
	cmd.Stderr = &limitedWriter{w: &stderr, n: 8 << 10}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dump: pg_dump of %s failed: %v: %s", db.Name, err, scrub(errors.New(strings.TrimSpace(stderr.String())), db.Password))
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("dump: finishing the artifact: %w", err)
	}
	return &Result{Metadata: meta, Size: counter.n, SHA256: hex.EncodeToString(sum.Sum(nil)),
		DumpBytes: plain.n, Duration: time.Since(start)}, nil
}

// countRows counts the rows of every ordinary and partitioned-leaf table
// outside the system schemas, in tx's snapshot.
func countRows(ctx context.Context, tx pgx.Tx) (map[string]int64, error) {
	rows, err := tx.Query(ctx, `
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("dump: listing tables: %w", err)
	}
	type table struct{ schema, name string }
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
