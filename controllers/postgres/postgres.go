// Package postgres provisions tenant databases and roles on the PostgreSQL
// servers named in the operator's configuration. Identifiers always go through
// pgx.Identifier.Sanitize and values through $n parameters; passwords never
// appear in SQL text: roles get a SCRAM-SHA-256 verifier computed here.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-dev/switchboard/controllers/config"
	"github.com/switchboard-dev/switchboard/controllers/external"
)

// ErrUnknownServer is returned for a server name not in the configuration.
var ErrUnknownServer = errors.New("unknown database server")

// Provisioner holds one small pool per configured server.
type Provisioner struct {
	servers map[string]config.DatabaseServer
	// Writes counts statements that changed something, for tests and metrics.
	onWrite func(server string)

	// onQuery, if set, is called for every statement sent, read or write.
	onQuery func(server string)
	// poolSize is the most admin connections held per server.
	poolSize int32

	mu    sync.Mutex
	pools map[string]*pgxpool.Pool
	// prepared lists the servers whose shared databases are locked down.
	prepared map[string]bool
}

// New returns a Provisioner for the servers. onWrite, if set, is called once
// for every statement that changes a server.
func New(servers map[string]config.DatabaseServer, onWrite func(server string)) *Provisioner {
	if onWrite == nil {
		onWrite = func(string) {}
	}
	return &Provisioner{servers: servers, pools: map[string]*pgxpool.Pool{}, prepared: map[string]bool{}, onWrite: onWrite}
}

// SetPoolSize sets the most admin connections p holds to each server
// (default 4): as many as passes that may provision at once, so that none
// waits for a connection. It must be called before the first statement.
func (p *Provisioner) SetPoolSize(n int) {
	if n > 0 {
		p.poolSize = int32(n)
	}
}

// CountQueries makes p call onQuery for every statement it sends to a
// server, reads included: the operator's round trips, for its metrics. It
// must be called before the first statement.
func (p *Provisioner) CountQueries(onQuery func(server string)) { p.onQuery = onQuery }

// queryCounter is a pgx tracer that counts statements.
type queryCounter struct {
	server  string
	onQuery func(server string)
}

func (q queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.onQuery(q.server)
	return ctx
}

func (queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// ServerNames lists the configured servers' names, sorted (they are not secret).
func (p *Provisioner) ServerNames() []string {
	names := make([]string, 0, len(p.servers))
	for n := range p.servers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Server returns a configured server.
func (p *Provisioner) Server(name string) (config.DatabaseServer, bool) {
	s, ok := p.servers[name]
	return s, ok
}

// Close closes every pool.
func (p *Provisioner) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pool := range p.pools {
		pool.Close()
	}
	p.pools = map[string]*pgxpool.Pool{}
}

func (p *Provisioner) pool(server string) (*pgxpool.Pool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pool, ok := p.pools[server]; ok {
		return pool, nil
	}
	s, ok := p.servers[server]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownServer, server)
	}
	cfg, err := pgxpool.ParseConfig(s.AdminDSN)
	if err != nil {
		return nil, fmt.Errorf("server %s: the admin DSN does not parse", server)
	}
	cfg.MaxConns = 4
	if p.poolSize > 0 {
		cfg.MaxConns = p.poolSize
	}
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = time.Minute
	cfg.HealthCheckPeriod = 15 * time.Second
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "switchboard-operator"
	if p.onQuery != nil {
		cfg.ConnConfig.Tracer = queryCounter{server: server, onQuery: p.onQuery}
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", server, err)
	}
	p.pools[server] = pool
	return pool, nil
}

// classify turns a pgx error into one that says whether the server answered,
// with a message that holds no secret.
func classify(server string, err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return fmt.Errorf("server %s: %s (SQLSTATE %s)", server, pgErr.Message, pgErr.Code)
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	if errors.As(err, &netErr) || errors.As(err, &connErr) || pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) {
		return external.NewUnreachable(external.PostgreSQL, "server "+server, err)
	}
	return fmt.Errorf("server %s: %v", server, err)
}

// Tenant names a tenant's role and database, and says whose they are.
type Tenant struct {
	// Name is both the role's and the database's name.
	Name string
	// Claim is whose they are: its UID is recorded in the role's and the
	// database's comment when the operator creates them.
	external.Claim
	// Limits are set on the role, from the plan.
	Limits Limits
}

// Limits bound what one tenant's role can take from a shared server.
type Limits struct {
	// Connections is the role's connection limit.
	Connections int
	// StatementTimeout and IdleInTransactionTimeout are the role's defaults.
	StatementTimeout         time.Duration
	IdleInTransactionTimeout time.Duration
}

// settings is the role's per-role configuration, as pg_roles.rolconfig lists it.
func (l Limits) settings() []string {
	return []string{
		"idle_in_transaction_session_timeout=" + strconv.FormatInt(l.IdleInTransactionTimeout.Milliseconds(), 10),
		"statement_timeout=" + strconv.FormatInt(l.StatementTimeout.Milliseconds(), 10),
	}
}

// markPrefix starts the comment the operator puts on the roles and
// databases it creates; the Workspace UID follows.
const markPrefix = "switchboard workspace-uid="

var uidRE = regexp.MustCompile(`^[0-9a-fA-F-]{1,64}$`)

func markOf(comment string) string {
	uid, ok := strings.CutPrefix(comment, markPrefix)
	if !ok {
		return ""
	}
	return uid
}

// markComment is the COMMENT literal for uid. COMMENT takes no parameters, so
// the UID is checked to hold nothing but hex digits and dashes.
func markComment(uid string) (string, error) {
	if !uidRE.MatchString(uid) {
		return "", fmt.Errorf("workspace UID %q is not a UID", uid)
	}
	return "'" + markPrefix + uid + "'", nil
}

// roleState is what the operator checks of an existing role.
type roleState struct {
	privileges []string
	mark       string
	canLogin   bool
	inherit    bool
	connLimit  int
	config     []string
}

func (p *Provisioner) role(ctx context.Context, pool *pgxpool.Pool, name string) (*roleState, error) {
	var st roleState
	var super, createRole, replication, bypassRLS, createDB, member bool
	err := pool.QueryRow(ctx, `
SELECT r.rolsuper, r.rolcreaterole, r.rolreplication, r.rolbypassrls, r.rolcreatedb,
       r.rolcanlogin, r.rolinherit, r.rolconnlimit, coalesce(r.rolconfig, '{}'),
       coalesce(shobj_description(r.oid, 'pg_authid'), ''),
       EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid
         OR (m.roleid = r.oid AND m.member <> (SELECT oid FROM pg_roles WHERE rolname = current_user)))
FROM pg_roles r WHERE r.rolname = $1`, name).Scan(
		&super, &createRole, &replication, &bypassRLS, &createDB,
		&st.canLogin, &st.inherit, &st.connLimit, &st.config, &st.mark, &member)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{super, "SUPERUSER"}, {createRole, "CREATEROLE"}, {replication, "REPLICATION"}, {bypassRLS, "BYPASSRLS"}, {createDB, "CREATEDB"}, {member, "role memberships (it is a member of a role, or a role is a member of it)"}} {
		if f.on {
			st.privileges = append(st.privileges, f.name)
		}
	}
	st.mark = markOf(st.mark)
	sort.Strings(st.config)
	return &st, nil
}

// checkRole refuses a role that is not provably t's, or that has any
// privilege a tenant role must never have, whoever made it.
func checkRole(server string, t Tenant, st *roleState) error {
	if len(st.privileges) > 0 {
		return &external.ConflictError{Object: "role " + t.Name + " on server " + server, Reason: "has " + strings.Join(st.privileges, ", ") + ", which a tenant role must never have; it is not adopted"}
	}
	if !t.Accepts(st.mark) {
		return external.Conflict("role "+t.Name+" on server "+server, st.mark)
	}
	return nil
}

// prepareServer revokes, once per server and process, what PUBLIC needs not
// have on the server's shared databases: tenant roles cannot connect to
// postgres or template1. It needs a superuser admin; with any other admin it
// does nothing, and the platform team revokes by hand.
func (p *Provisioner) prepareServer(ctx context.Context, server string, pool *pgxpool.Pool) error {
	p.mu.Lock()
	done := p.prepared[server]
	p.mu.Unlock()
	if done {
		return nil
	}
	var super bool
	if err := pool.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		return classify(server, err)
	}
	if super {
		rows, err := pool.Query(ctx, `SELECT datname FROM pg_database WHERE datname IN ('postgres', 'template1')
  AND (has_database_privilege('public', datname, 'CONNECT') OR has_database_privilege('public', datname, 'TEMPORARY'))`)
		if err != nil {
			return classify(server, err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return classify(server, err)
		}
		for _, n := range names {
			if _, err := pool.Exec(ctx, "REVOKE CONNECT, TEMPORARY ON DATABASE "+pgx.Identifier{n}.Sanitize()+" FROM PUBLIC"); err != nil {
				return classify(server, err)
			}
			p.onWrite(server)
		}
	}
	p.mu.Lock()
	p.prepared[server] = true
	p.mu.Unlock()
	return nil
}

// EnsureDatabase makes t's role and database exist, marked with t.UID, the
// role able to log in, limited by t.Limits and owning the database, and
// PUBLIC unable to connect. It writes nothing when all that is already true.
// A role or database of that name that is not provably t's gives an
// *external.ConflictError, and nothing is written to it. created reports whether the
// role was new.
func (p *Provisioner) EnsureDatabase(ctx context.Context, server string, t Tenant) (created bool, err error) {
	pool, err := p.pool(server)
	if err != nil {
		return false, err
	}
	if err := p.prepareServer(ctx, server, pool); err != nil {
		return false, err
	}
	mark, err := markComment(t.UID)
	if err != nil {
		return false, err
	}
	ident := pgx.Identifier{t.Name}.Sanitize()

	st, err := p.role(ctx, pool, t.Name)
	if err != nil {
		return false, classify(server, err)
	}
	if st == nil {
		// No attributes beyond LOGIN: the role can do nothing but own its
		// database. It must INHERIT, since PostgreSQL 15 grants CREATE on the
		// public schema to pg_database_owner, which the owner is a member of.
		// The role and its mark are created together, so no crash leaves an
		// unmarked role of ours behind.
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			stmts := []string{
				"CREATE ROLE " + ident + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT " + strconv.Itoa(t.Limits.Connections),
				"COMMENT ON ROLE " + ident + " IS " + mark,
			}
			for _, kv := range t.Limits.settings() {
				k, v, _ := strings.Cut(kv, "=")
				stmts = append(stmts, "ALTER ROLE "+ident+" SET "+k+" = "+v)
			}
			for _, stmt := range stmts {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "42710" { // duplicate_object: a concurrent pass won
				return false, &external.ConflictError{Object: "role " + t.Name + " on server " + server, Reason: "was created by someone else at the same moment"}
			}
			return false, classify(server, err)
		}
		p.onWrite(server)
		created = true
	} else {
		if err := checkRole(server, t, st); err != nil {
			return false, err
		}
		var stmts []string
		if st.mark != t.UID {
			stmts = append(stmts, "COMMENT ON ROLE "+ident+" IS "+mark) // adopted
		}
		if !st.canLogin || !st.inherit {
			stmts = append(stmts, "ALTER ROLE "+ident+" LOGIN INHERIT")
		}
		if st.connLimit != t.Limits.Connections {
			stmts = append(stmts, "ALTER ROLE "+ident+" CONNECTION LIMIT "+strconv.Itoa(t.Limits.Connections))
		}
		if want := t.Limits.settings(); !slices.Equal(st.config, want) {
			stmts = append(stmts, "ALTER ROLE "+ident+" RESET ALL")
			for _, kv := range want {
				k, v, _ := strings.Cut(kv, "=")
				stmts = append(stmts, "ALTER ROLE "+ident+" SET "+k+" = "+v)
			}
		}
		for _, stmt := range stmts {
			if _, err := pool.Exec(ctx, stmt); err != nil {
				return false, classify(server, err)
			}
			p.onWrite(server)
		}
	}

	var dbExists bool
	var owner, comment string
	err = pool.QueryRow(ctx, `SELECT count(*) > 0, coalesce(max(pg_get_userbyid(datdba)), ''), coalesce(max(shobj_description(oid, 'pg_database')), '')
FROM pg_database WHERE datname = $1`, t.Name).Scan(&dbExists, &owner, &comment)
	if err != nil {
		return created, classify(server, err)
	}
	if _, _, scratch := scratchMarkOf(comment); dbExists && scratch {
		// Whatever the claim: a scratch database is never taken for a live one.
		return created, &external.ConflictError{Object: "database " + t.Name + " on server " + server, Reason: describe(comment)}
	}
	switch dbMark := markOf(comment); {
	case !dbExists:
		create := "CREATE DATABASE " + ident + " OWNER " + ident + " ENCODING 'UTF8' TEMPLATE template0"
		if st := p.servers[server].CreateStrategy; st == "WAL_LOG" || st == "FILE_COPY" {
			create += " STRATEGY " + st // a keyword from a closed list, checked when the configuration was read
		}
		if _, err := pool.Exec(ctx, create); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
				return created, &external.ConflictError{Object: "database " + t.Name + " on server " + server, Reason: "was created by someone else at the same moment"}
			}
			return created, classify(server, err)
		}
		p.onWrite(server)
		fallthrough
	case dbMark == "" && owner == t.Name && !t.Accepts(""):
		// A database with no mark owned by our role was created by a pass
		// that stopped before its COMMENT: only a superuser or a member of
		// the role (it has none) could have made it.
		if _, err := pool.Exec(ctx, "COMMENT ON DATABASE "+ident+" IS "+mark); err != nil {
			return created, classify(server, err)
		}
		p.onWrite(server)
	case !t.Accepts(dbMark):
		return created, external.Conflict("database "+t.Name+" on server "+server, dbMark)
	default:
		if dbMark != t.UID {
			if _, err := pool.Exec(ctx, "COMMENT ON DATABASE "+ident+" IS "+mark); err != nil {
				return created, classify(server, err)
			}
			p.onWrite(server)
		}
		if owner != t.Name {
			if _, err := pool.Exec(ctx, "ALTER DATABASE "+ident+" OWNER TO "+ident); err != nil {
				return created, classify(server, err)
			}
			p.onWrite(server)
		}
	}

	var publicConnect bool
	if err := pool.QueryRow(ctx, `SELECT has_database_privilege('public', $1, 'CONNECT') OR has_database_privilege('public', $1, 'TEMPORARY')`, t.Name).Scan(&publicConnect); err != nil {
		return created, classify(server, err)
	}
	if publicConnect {
		if _, err := pool.Exec(ctx, "REVOKE ALL ON DATABASE "+ident+" FROM PUBLIC"); err != nil {
			return created, classify(server, err)
		}
		p.onWrite(server)
	}
	return created, nil
}

// SetPassword gives the role a new password and ends the role's sessions,
// so whoever held the old password keeps no connection either. Only its
// SCRAM-SHA-256 verifier is sent to the server, so the password is in no
// statement or server log.
func (p *Provisioner) SetPassword(ctx context.Context, server, role, password string) error {
	pool, err := p.pool(server)
	if err != nil {
		return err
	}
	verifier, err := scramVerifier(password)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, "ALTER ROLE "+pgx.Identifier{role}.Sanitize()+" PASSWORD '"+verifier+"'"); err != nil {
		return classify(server, err)
	}
	p.onWrite(server)
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`, role); err != nil {
		return classify(server, err)
	}
	return nil
}

// Lock takes t's role's password away and ends its sessions, if the role is
// t's: whoever learnt the password can no longer use it. The next
// SetPassword opens the role again.
func (p *Provisioner) Lock(ctx context.Context, server string, t Tenant) error {
	pool, err := p.pool(server)
	if err != nil {
		return err
	}
	st, err := p.role(ctx, pool, t.Name)
	if err != nil {
		return classify(server, err)
	}
	if st == nil || st.mark != t.UID {
		return nil
	}
	if _, err := pool.Exec(ctx, "ALTER ROLE "+pgx.Identifier{t.Name}.Sanitize()+" PASSWORD NULL"); err != nil {
		return classify(server, err)
	}
	p.onWrite(server)
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`, t.Name); err != nil {
		return classify(server, err)
	}
	return nil
}

// Exists says whether the database and the role exist.
func (p *Provisioner) Exists(ctx context.Context, server, name string) (db, role bool, err error) {
	pool, err := p.pool(server)
	if err != nil {
		return false, false, err
	}
	err = pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1), EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&db, &role)
	return db, role, classify(server, err)
}

// ServerMajorVersion is the server's PostgreSQL major version (15 for
// 15.4), which pg_dump and pg_restore must match (see dump.CheckTools).
func (p *Provisioner) ServerMajorVersion(ctx context.Context, server string) (int, error) {
	pool, err := p.pool(server)
	if err != nil {
		return 0, err
	}
	var num int
	if err := pool.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&num); err != nil {
		return 0, classify(server, err)
	}
	return num / 10000, nil
}

// Dropped says what Drop removed, and what it kept because it was not t's.
type Dropped struct {
	Database, Role bool
	// Scratch lists the scratch databases dropped (see CreateScratch).
	Scratch []string
	// Kept explains each object of t's name that was left untouched.
	Kept []string
}

// Drop removes t's scratch databases, t's database, ending their sessions,
// then t's role. A scratch database (<name>_restore, <name>_verify,
// <name>_pre_restore) is dropped only when it is marked as t's; the database
// and the role only when they carry t's mark (the database also when it is
// unmarked and owned by t's role). An object of one of those names that is
// someone else's is kept, and Dropped.Kept says why.
func (p *Provisioner) Drop(ctx context.Context, server string, t Tenant) (Dropped, error) {
	var out Dropped
	pool, err := p.pool(server)
	if err != nil {
		return out, err
	}
	ident := pgx.Identifier{t.Name}.Sanitize()
	st, err := p.role(ctx, pool, t.Name)
	if err != nil {
		return out, classify(server, err)
	}
	roleOurs := st != nil && st.mark == t.UID
	// Scratch databases first: the role cannot be dropped while it owns one.
	for _, purpose := range []string{scratchPreRestore, ScratchRestore, ScratchVerify} {
		name := scratchName(t.Name, purpose)
		dropped, err := p.dropScratch(ctx, server, pool, t, name, purpose)
		var conflict *external.ConflictError
		switch {
		case errors.As(err, &conflict):
			out.Kept = append(out.Kept, conflict.Error())
		case err != nil:
			return out, err
		case dropped:
			out.Scratch = append(out.Scratch, name)
		}
	}
	db, err := databaseState(ctx, pool, t.Name)
	if err != nil {
		return out, classify(server, err)
	}
	if db.exists {
		mark := markOf(db.comment)
		if mark == t.UID || (mark == "" && roleOurs && db.owner == t.Name) {
			if _, err := pool.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
				return out, classify(server, err)
			}
			p.onWrite(server)
			out.Database = true
		} else {
			out.Kept = append(out.Kept, fmt.Sprintf("database %s on server %s %s; left untouched", t.Name, server, describe(db.comment)))
		}
	}
	if st != nil {
		if roleOurs {
			if _, err := pool.Exec(ctx, "DROP ROLE IF EXISTS "+ident); err != nil {
				return out, classify(server, err)
			}
			p.onWrite(server)
			out.Role = true
		} else {
			out.Kept = append(out.Kept, fmt.Sprintf("role %s on server %s %s; left untouched", t.Name, server, external.Describe(st.mark)))
		}
	}
	return out, nil
}

// TenantDSN is the DSN the tenant's runtime uses: the admin DSN's host, port
// and TLS settings, with the tenant's role, password and database.
func (p *Provisioner) TenantDSN(server, name, password string) (string, error) {
	s, ok := p.servers[server]
	if !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownServer, server)
	}
	return tenantDSN(s.AdminDSN, name, password)
}
