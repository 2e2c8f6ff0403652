// Package store is the runtime's data layer: one file per entity over a
// pgxpool.Pool. Methods take ctx first, and a Querier when a service runs
// them in its transaction. They return sentinel errors that the web layer
// maps to status codes; any other error names the method that failed.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/switchboard-dev/switchboard/runtime/migrations"
)

// Sentinel errors.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid")
	// ErrRestricted: the contact's processing is restricted, which makes it
	// read-only until the restriction is lifted.
	ErrRestricted = errors.New("the contact's processing is restricted")
)

// Store is the tenant's database.
type Store struct {
	Pool *pgxpool.Pool

	incoming incomingBatcher // RecordIncoming's batches
}

// Querier is what both a pool and a transaction offer.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Open connects to dsn with a small pool, as fits one tenant's runtime.
func Open(ctx context.Context, dsn string, maxConns int32) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("the database DSN does not parse")
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.ConnConfig.RuntimeParams["application_name"] = "switchboard-runtime"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the database: %w", err)
	}
	return &Store{Pool: pool}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.Pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.Pool.Ping(ctx) }

// Migrate applies the embedded migrations. A PostgreSQL advisory lock makes
// replicas that start together take turns; each migration runs in a transaction.
func (s *Store) Migrate(ctx context.Context) error {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 120))
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(s.Pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating: %w", err)
	}
	return nil
}

// Transact runs fn in a transaction, committing if it returns nil.
func (s *Store) Transact(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.Pool, fn)
}

// inTx runs fn in a transaction of its own, or in a savepoint when q is
// already a transaction, so that a caller can make a change and its audit
// entry one unit.
func (s *Store) inTx(ctx context.Context, q Querier, fn func(tx pgx.Tx) error) error {
	if b, ok := q.(interface {
		Begin(context.Context) (pgx.Tx, error)
	}); ok {
		return pgx.BeginFunc(ctx, b, fn)
	}
	return s.Transact(ctx, fn)
}

// notFound turns pgx.ErrNoRows into ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// isUnique says whether err is a unique violation.
func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// isCheck says whether err is a check constraint violation.
func isCheck(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514"
}

// isForeignKey says whether err is a foreign-key violation.
func isForeignKey(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// wrap names the store operation an unexpected error came from, as pkgsite's
// derrors.Wrap does, so that a failed query in a log says which one it was:
// "store.ContactByID(42): ...". Its arguments are ids and names of kinds,
// never personal data or secrets. The store's own errors (ErrNotFound,
// ErrConflict, ErrInvalid, ErrRestricted, ErrExpired) pass as they are:
// callers tell them apart, and show their text to users.
func wrap(errp *error, format string, args ...any) {
	err := *errp
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) ||
		errors.Is(err, ErrRestricted) || errors.Is(err, ErrExpired) {
		return
	}
	*errp = fmt.Errorf("store."+format+": %w", append(args, err)...)
}
