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
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-dev/switchboard/controllers/config"
)

// ErrUnknownServer is returned for a server name not in the configuration.
var ErrUnknownServer = errors.New("unknown database server")

// Unreachable wraps errors that mean the server did not answer.
type Unreachable struct{ Err error }

func (e *Unreachable) Error() string { return e.Err.Error() }
func (e *Unreachable) Unwrap() error { return e.Err }

// IsUnreachable says whether err means the server did not answer.
func IsUnreachable(err error) bool {
	var u *Unreachable
	return errors.As(err, &u)
}

// Provisioner holds one small pool per configured server.
type Provisioner struct {
	servers map[string]config.DatabaseServer
	// Writes counts statements that changed something, for tests and metrics.
	onWrite func(server string)

	mu    sync.Mutex
	pools map[string]*pgxpool.Pool
}

// New returns a Provisioner for the servers. onWrite, if set, is called once
// for every statement that changes a server.
func New(servers map[string]config.DatabaseServer, onWrite func(server string)) *Provisioner {
	if onWrite == nil {
		onWrite = func(string) {}
	}
	return &Provisioner{servers: servers, pools: map[string]*pgxpool.Pool{}, onWrite: onWrite}
}

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
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = time.Minute
	cfg.HealthCheckPeriod = 15 * time.Second
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "switchboard-operator"
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
		msg := "connection failed"
		var opErr *net.OpError
		if errors.As(err, &opErr) {
			msg = opErr.Error()
		} else if errors.Is(err, context.DeadlineExceeded) {
			msg = "timed out"
		}
		return &Unreachable{Err: fmt.Errorf("server %s is unreachable: %s", server, msg)}
	}
	return fmt.Errorf("server %s: %v", server, err)
}

// Ping checks that the server answers.
func (p *Provisioner) Ping(ctx context.Context, server string) error {
	pool, err := p.pool(server)
	if err != nil {
		return err
	}
	return classify(server, pool.Ping(ctx))
}

// EnsureDatabase makes role and database exist, the role able to log in and
// own the database, and PUBLIC unable to connect. It writes nothing when all
// that is already true. created reports whether the role was new.
func (p *Provisioner) EnsureDatabase(ctx context.Context, server, name string) (created bool, err error) {
	pool, err := p.pool(server)
	if err != nil {
		return false, err
	}
	ident := pgx.Identifier{name}.Sanitize()

	var roleExists, canLogin bool
	err = pool.QueryRow(ctx, `SELECT count(*) > 0, coalesce(bool_and(rolcanlogin AND rolinherit), false) FROM pg_roles WHERE rolname = $1`, name).Scan(&roleExists, &canLogin)
	if err != nil {
		return false, classify(server, err)
	}
	if !roleExists {
		// No attributes beyond LOGIN: the role can do nothing but own its
		// database. It must INHERIT, since PostgreSQL 15 grants CREATE on the
		// public schema to pg_database_owner, which the owner is a member of.
		if _, err := pool.Exec(ctx, "CREATE ROLE "+ident+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION"); err != nil {
			var pgErr *pgconn.PgError
			if !(errors.As(err, &pgErr) && pgErr.Code == "42710") { // duplicate_object: a concurrent pass won
				return false, classify(server, err)
			}
		}
		p.onWrite(server)
		created = true
	} else if !canLogin {
		if _, err := pool.Exec(ctx, "ALTER ROLE "+ident+" LOGIN INHERIT"); err != nil {
			return false, classify(server, err)
		}
		p.onWrite(server)
	}

	var dbExists bool
	var owner string
	err = pool.QueryRow(ctx, `SELECT count(*) > 0, coalesce(max(pg_get_userbyid(datdba)), '') FROM pg_database WHERE datname = $1`, name).Scan(&dbExists, &owner)
	if err != nil {
		return created, classify(server, err)
	}
	if !dbExists {
		if _, err := pool.Exec(ctx, "CREATE DATABASE "+ident+" OWNER "+ident+" ENCODING 'UTF8' TEMPLATE template0"); err != nil {
			var pgErr *pgconn.PgError
			if !(errors.As(err, &pgErr) && pgErr.Code == "42P04") { // duplicate_database
				return created, classify(server, err)
			}
		}
		p.onWrite(server)
	} else if owner != name {
		if _, err := pool.Exec(ctx, "ALTER DATABASE "+ident+" OWNER TO "+ident); err != nil {
			return created, classify(server, err)
		}
		p.onWrite(server)
	}

	var publicConnect bool
	if err := pool.QueryRow(ctx, `SELECT has_database_privilege('public', $1, 'CONNECT') OR has_database_privilege('public', $1, 'TEMPORARY')`, name).Scan(&publicConnect); err != nil {
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

// SetPassword gives the role a new password. Only its SCRAM-SHA-256 verifier
// is sent to the server, so the password is in no statement or server log.
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

// Drop removes the database, ending its sessions, then the role. Each step is
// skipped when there is nothing to drop.
func (p *Provisioner) Drop(ctx context.Context, server, name string) error {
	db, role, err := p.Exists(ctx, server, name)
	if err != nil {
		return err
	}
	pool, err := p.pool(server)
	if err != nil {
		return err
	}
	ident := pgx.Identifier{name}.Sanitize()
	if db {
		if _, err := pool.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			return classify(server, err)
		}
		p.onWrite(server)
	}
	if role {
		if _, err := pool.Exec(ctx, "DROP ROLE IF EXISTS "+ident); err != nil {
			return classify(server, err)
		}
		p.onWrite(server)
	}
	return nil
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
