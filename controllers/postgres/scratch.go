package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-dev/switchboard/controllers/external"
)

// The purposes of a scratch database: a backup is restored into one, then
// either swapped in for the live database (restore) or compared and dropped
// (verify).
const (
	ScratchRestore = "restore"
	ScratchVerify  = "verify"
	// scratchPreRestore names the live database while SwapIn replaces it.
	scratchPreRestore = "pre_restore"
)

// scratchInfix joins the purpose to the Workspace UID in a scratch
// database's mark: "switchboard workspace-uid=<uid> scratch=<purpose>".
// markOf returns such a comment's remainder whole ("<uid> scratch=restore"),
// which holds a space and so is no UID: no Workspace takes a scratch database
// for its live one, and an operator that predates scratch marks sees
// someone else's database and leaves it alone.
const scratchInfix = " scratch="

// maxIdentifier is PostgreSQL's identifier length in bytes (NAMEDATALEN-1).
// A longer name is truncated by the server without error, which could make a
// scratch name equal to the live one; scratchName never makes one.
const maxIdentifier = 63

// ErrScratchMissing says that SwapIn found no scratch database to swap in.
// A caller that recorded, before calling SwapIn, that it was swapping this
// scratch database in reads it as "the swap already completed": the scratch
// database leaves its name only by becoming the live database, by DropScratch
// or by Drop.
var ErrScratchMissing = errors.New("the scratch database does not exist")

// scratchName is the name of the database of purpose for the tenant name:
// <name>_<purpose>, or, when that exceeds 63 bytes, the name cut short and
// an 8-digit hash of the whole name before the suffix, so that it stays
// distinct from the live name and from other tenants' scratch names.
func scratchName(name, purpose string) string {
	suffix := "_" + purpose
	if len(name)+len(suffix) <= maxIdentifier {
		return name + suffix
	}
	sum := sha256.Sum256([]byte(name))
	tag := "_" + hex.EncodeToString(sum[:4])
	keep := maxIdentifier - len(suffix) - len(tag)
	for keep > 0 && !utf8.RuneStart(name[keep]) {
		keep--
	}
	return name[:keep] + tag + suffix
}

// scratchPurpose says which of t's scratch databases name is, if any.
func scratchPurpose(tenant, name string, purposes ...string) (string, bool) {
	for _, p := range purposes {
		if name == scratchName(tenant, p) {
			return p, true
		}
	}
	return "", false
}

// scratchMarkComment is the COMMENT literal marking a scratch database of
// uid for purpose.
func scratchMarkComment(uid, purpose string) (string, error) {
	mark, err := markComment(uid)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(mark, "'") + scratchInfix + purpose + "'", nil
}

// scratchMarkOf returns the Workspace UID and purpose of a scratch
// database's comment; ok is false for any other comment.
func scratchMarkOf(comment string) (uid, purpose string, ok bool) {
	rest, ok := strings.CutPrefix(comment, markPrefix)
	if !ok {
		return "", "", false
	}
	uid, purpose, ok = strings.Cut(rest, scratchInfix)
	if !ok || !uidRE.MatchString(uid) {
		return "", "", false
	}
	switch purpose {
	case ScratchRestore, ScratchVerify, scratchPreRestore:
		return uid, purpose, true
	}
	return "", "", false
}

// isScratchOf says whether comment marks a scratch database of uid for purpose.
func isScratchOf(comment, uid, purpose string) bool {
	u, p, ok := scratchMarkOf(comment)
	return ok && u == uid && p == purpose
}

// describe says, for a user, why a database whose comment is comment is not
// the claimant's.
func describe(comment string) string {
	if uid, purpose, ok := scratchMarkOf(comment); ok {
		return fmt.Sprintf("exists and is a scratch database (%s) of Workspace UID %s", purpose, uid)
	}
	return external.Describe(markOf(comment))
}

// dbState is what the operator checks of an existing database.
type dbState struct {
	exists         bool
	owner, comment string
}

func databaseState(ctx context.Context, pool *pgxpool.Pool, name string) (dbState, error) {
	var st dbState
	err := pool.QueryRow(ctx, `SELECT count(*) > 0, coalesce(max(pg_get_userbyid(datdba)), ''), coalesce(max(shobj_description(oid, 'pg_database')), '')
FROM pg_database WHERE datname = $1`, name).Scan(&st.exists, &st.owner, &st.comment)
	return st, err
}

// CreateScratch creates an empty database to restore one of t's backups
// into, and returns its name: <t.Name>_<purpose> (see scratchName for names
// near 63 bytes). purpose is ScratchRestore or ScratchVerify. It is owned by
// t's role, which must be t's (marked with t.UID), PUBLIC cannot connect to
// it, and its comment marks it as t's scratch database for purpose, which no
// Workspace accepts as its live database.
//
// A database of that name that is t's scratch database for purpose, left by
// an earlier attempt, is dropped first. One that is anything else, unmarked
// included, gives an *external.ConflictError, and nothing is written. So
// does a crash between the CREATE and the COMMENT (CREATE DATABASE cannot
// run in a transaction): the platform team drops that unmarked database.
func (p *Provisioner) CreateScratch(ctx context.Context, server string, t Tenant, purpose string) (string, error) {
	if purpose != ScratchRestore && purpose != ScratchVerify {
		return "", fmt.Errorf("scratch database purpose %q: want %q or %q", purpose, ScratchRestore, ScratchVerify)
	}
	pool, err := p.pool(server)
	if err != nil {
		return "", err
	}
	mark, err := scratchMarkComment(t.UID, purpose)
	if err != nil {
		return "", err
	}
	name := scratchName(t.Name, purpose)
	ident, owner := pgx.Identifier{name}.Sanitize(), pgx.Identifier{t.Name}.Sanitize()
	object := "database " + name + " on server " + server

	role, err := p.role(ctx, pool, t.Name)
	if err != nil {
		return "", classify(server, err)
	}
	if role == nil {
		return "", fmt.Errorf("role %s on server %s does not exist: the Workspace's database is not in place", t.Name, server)
	}
	if err := checkRole(server, t, role); err != nil {
		return "", err
	}
	if role.mark != t.UID {
		return "", &external.ConflictError{Object: "role " + t.Name + " on server " + server, Reason: external.Describe(role.mark) + "; the Workspace has not adopted it yet"}
	}

	db, err := databaseState(ctx, pool, name)
	if err != nil {
		return "", classify(server, err)
	}
	if db.exists {
		if !isScratchOf(db.comment, t.UID, purpose) {
			return "", &external.ConflictError{Object: object, Reason: describe(db.comment)}
		}
		if _, err := pool.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			return "", classify(server, err)
		}
		p.onWrite(server)
	}
	if _, err := pool.Exec(ctx, "CREATE DATABASE "+ident+" OWNER "+owner+" ENCODING 'UTF8' TEMPLATE template0"); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
			return "", &external.ConflictError{Object: object, Reason: "was created by someone else at the same moment"}
		}
		return "", classify(server, err)
	}
	p.onWrite(server)
	for _, stmt := range []string{
		"COMMENT ON DATABASE " + ident + " IS " + mark,
		// As on the live database it becomes: no CONNECT, no TEMPORARY.
		"REVOKE ALL ON DATABASE " + ident + " FROM PUBLIC",
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			return "", classify(server, err)
		}
		p.onWrite(server)
	}
	return name, nil
}

// DropScratch drops t's scratch database name (as CreateScratch returned
// it), ending its sessions, if it is marked as t's scratch database. A
// missing database is no error; one that is not t's scratch database gives
// an *external.ConflictError and is kept.
func (p *Provisioner) DropScratch(ctx context.Context, server string, t Tenant, name string) error {
	purpose, ok := scratchPurpose(t.Name, name, ScratchRestore, ScratchVerify, scratchPreRestore)
	if !ok {
		return fmt.Errorf("database %s is not a scratch database name of %s", name, t.Name)
	}
	if _, err := markComment(t.UID); err != nil {
		return err
	}
	pool, err := p.pool(server)
	if err != nil {
		return err
	}
	_, err = p.dropScratch(ctx, server, pool, t, name, purpose)
	return err
}

// dropScratch drops name if it is t's scratch database for purpose, and
// says whether it did; one that is not gives an *external.ConflictError.
func (p *Provisioner) dropScratch(ctx context.Context, server string, pool *pgxpool.Pool, t Tenant, name, purpose string) (bool, error) {
	db, err := databaseState(ctx, pool, name)
	if err != nil {
		return false, classify(server, err)
	}
	if !db.exists {
		return false, nil
	}
	if !isScratchOf(db.comment, t.UID, purpose) {
		return false, &external.ConflictError{Object: "database " + name + " on server " + server, Reason: describe(db.comment) + "; left untouched"}
	}
	if _, err := pool.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return false, classify(server, err)
	}
	p.onWrite(server)
	return true, nil
}

// rename is one ALTER DATABASE RENAME and the comment the database gets
// under its new name, made in the same transaction.
type rename struct{ from, to, mark string }

// renameAttempts bounds how often renames retries when a session connects
// between the sessions' ending and the rename's lock.
const renameAttempts = 5

// renames ends the sessions of the databases and renames them, with their
// new comments, in one transaction: all of it happens or none. Once a
// rename holds its database's lock, new sessions wait for the commit and
// then find the database under its new name.
func (p *Provisioner) renames(ctx context.Context, server string, pool *pgxpool.Pool, steps ...rename) error {
	from := make([]string, len(steps))
	for i, s := range steps {
		from[i] = s.from
	}
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			// A rename waits up to 5 seconds for the ended sessions to exit.
			if _, err := tx.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid()`, from); err != nil {
				return err
			}
			for _, s := range steps {
				to := pgx.Identifier{s.to}.Sanitize()
				if _, err := tx.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{s.from}.Sanitize()+" RENAME TO "+to); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, "COMMENT ON DATABASE "+to+" IS "+s.mark); err != nil {
					return err
				}
			}
			return nil
		})
		var pgErr *pgconn.PgError
		if err != nil && errors.As(err, &pgErr) && pgErr.Code == "55006" && attempt < renameAttempts { // object_in_use: a session came back
			select {
			case <-ctx.Done():
				return classify(server, ctx.Err())
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return classify(server, err)
		}
		p.onWrite(server)
		return nil
	}
}

// SwapIn replaces t's live database by the scratch database scratch (as
// CreateScratch returned it, with a backup restored into it). The live
// database must be marked with t.UID and scratch as t's scratch database;
// anything else gives an *external.ConflictError and nothing is written.
//
// In one transaction, after ending the sessions of both, the live database
// is renamed <name>_pre_restore and marked as t's scratch database, and
// scratch is renamed to the live name and given the live mark. Sessions that
// connect meanwhile wait for the commit. Then <name>_pre_restore is dropped.
// So at every moment, a crash included, the live name holds either the old
// database or the restored one, never neither, and the old one is kept until
// the restored one is in place. A retry converges:
//   - live and scratch present, <name>_pre_restore too: the pre-restore
//     database of an earlier, completed swap; it is dropped, then the swap
//     runs.
//   - live present, no scratch, <name>_pre_restore present: the swap
//     committed and only the drop was left; it is done, and SwapIn returns nil.
//   - live present, neither scratch nor <name>_pre_restore: ErrScratchMissing
//     (see there).
//   - no live database and scratch present (a swap made of two separate
//     renames that stopped between them, or a live database dropped by
//     hand): scratch becomes the live database, then any <name>_pre_restore
//     is dropped.
//   - no live database, no scratch, <name>_pre_restore present: the old
//     database is put back under the live name, and SwapIn returns
//     ErrScratchMissing, as nothing was restored.
func (p *Provisioner) SwapIn(ctx context.Context, server string, t Tenant, scratch string) error {
	purpose, ok := scratchPurpose(t.Name, scratch, ScratchRestore, ScratchVerify)
	if !ok {
		return fmt.Errorf("database %s is not a scratch database name of %s", scratch, t.Name)
	}
	liveMark, err := markComment(t.UID)
	if err != nil {
		return err
	}
	preMark, err := scratchMarkComment(t.UID, scratchPreRestore)
	if err != nil {
		return err
	}
	pool, err := p.pool(server)
	if err != nil {
		return err
	}
	pre := scratchName(t.Name, scratchPreRestore)
	live, err := databaseState(ctx, pool, t.Name)
	if err != nil {
		return classify(server, err)
	}
	scr, err := databaseState(ctx, pool, scratch)
	if err != nil {
		return classify(server, err)
	}
	old, err := databaseState(ctx, pool, pre)
	if err != nil {
		return classify(server, err)
	}
	on := " on server " + server
	if live.exists && markOf(live.comment) != t.UID {
		return &external.ConflictError{Object: "database " + t.Name + on, Reason: describe(live.comment) + "; nothing was swapped"}
	}
	if scr.exists && !isScratchOf(scr.comment, t.UID, purpose) {
		return &external.ConflictError{Object: "database " + scratch + on, Reason: describe(scr.comment) + "; nothing was swapped"}
	}
	if old.exists && !isScratchOf(old.comment, t.UID, scratchPreRestore) {
		return &external.ConflictError{Object: "database " + pre + on, Reason: describe(old.comment) + "; nothing was swapped"}
	}

	dropOld := func() error {
		_, err := p.dropScratch(ctx, server, pool, t, pre, scratchPreRestore)
		return err
	}
	switch {
	case live.exists && scr.exists:
		if old.exists {
			if err := dropOld(); err != nil {
				return err
			}
		}
		if err := p.renames(ctx, server, pool,
			rename{from: t.Name, to: pre, mark: preMark},
			rename{from: scratch, to: t.Name, mark: liveMark}); err != nil {
			return fmt.Errorf("swapping %s in for %s: %w", scratch, t.Name, err)
		}
		return dropOld()
	case scr.exists:
		if err := p.renames(ctx, server, pool, rename{from: scratch, to: t.Name, mark: liveMark}); err != nil {
			return fmt.Errorf("moving %s in as %s: %w", scratch, t.Name, err)
		}
		if old.exists {
			return dropOld()
		}
		return nil
	case live.exists && old.exists:
		return dropOld()
	case live.exists:
		return fmt.Errorf("database %s%s: %w", scratch, on, ErrScratchMissing)
	case old.exists:
		if err := p.renames(ctx, server, pool, rename{from: pre, to: t.Name, mark: liveMark}); err != nil {
			return fmt.Errorf("putting %s back as %s: %w", pre, t.Name, err)
		}
		return fmt.Errorf("database %s%s: %w; nothing was restored, and the previous database is back under its name", scratch, on, ErrScratchMissing)
	default:
		return fmt.Errorf("neither database %s nor %s exists%s: %w", t.Name, scratch, on, ErrScratchMissing)
	}
}
