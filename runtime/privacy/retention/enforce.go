package retention

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

// Rule is how long one category lives, and what happens to it after.
type Rule struct {
	Category Category
	// RetainFor is the age past which a row is deleted or anonymised.
	RetainFor time.Duration
	// Action is Delete (also when empty) or Anonymize.
	Action Action
}

func (r Rule) action() Action {
	if r.Action == "" {
		return Delete
	}
	return r.Action
}

// Defaults of Options.
const (
	DefaultBatchSize        = 1000
	DefaultBatchDuration    = 40 * time.Millisecond
	DefaultLockTimeout      = 50 * time.Millisecond
	DefaultStatementTimeout = 5 * time.Second
	// firstBatch is the size of a run's first batch: it grows from there
	// while batches stay short (see Options.BatchDuration).
	firstBatch = 50
	// minBatch is the smallest a batch shrinks to.
	minBatch = 10
	// maxAttempts is how many times a batch that could not take a lock
	// within LockTimeout is tried before the run gives up.
	maxAttempts = 5
)

// Options tune Enforce.
type Options struct {
	// BatchSize is the most rows of a category's own table, and the most
	// messages, that one batch deletes or anonymises (default 1,000).
	BatchSize int
	// BatchDuration is how long a batch should take, and so hold its row
	// locks (default 40ms). Batches start small and double while they take
	// less than half of it, up to BatchSize, and halve when one takes
	// longer: on a loaded machine they shrink, so that locks stay short
	// when every statement is slower.
	BatchDuration time.Duration
	// LockTimeout bounds each wait of a batch for a row that someone else
	// holds (default 50ms): the batch then rolls back and is tried again,
	// so the purge waits for the inbox and never the other way round for
	// long.
	LockTimeout time.Duration
	// StatementTimeout bounds each statement (default 5s).
	StatementTimeout time.Duration
	// Key is the workspace's pseudonymisation key (KeySize bytes), which
	// Anonymize of conversations, contacts, usageEvents and auditLog hashes
	// ids with. It must not be kept in the tenant database; see the package
	// documentation.
	Key []byte
	// AfterBatch, when set, is called after each committed batch. An error
	// stops the run there, as a cancelled context does.
	AfterBatch func(Batch) error
}

func (o Options) withDefaults() Options {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.BatchDuration <= 0 {
		o.BatchDuration = DefaultBatchDuration
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.StatementTimeout <= 0 {
		o.StatementTimeout = DefaultStatementTimeout
	}
	return o
}

// Outcome is what a rule did, or would do, to its category.
type Outcome struct {
	Category Category
	Action   Action
	// Cutoff is now less RetainFor: older rows go.
	Cutoff time.Time
	// Deleted is the rows deleted, per table.
	Deleted privacy.Counts
	// Anonymized is the rows kept without personal data, per table, and
	// under "table.column" the rows kept with only that reference cleared
	// (deals.contact_id, when their contact is deleted).
	Anonymized privacy.Counts
}

// Rows is the number of rows deleted or anonymised.
func (o Outcome) Rows() int64 { return o.Deleted.Total() + o.Anonymized.Total() }

// CategoryReport is what Enforce did to one category.
type CategoryReport struct {
	Outcome
	Batches      int
	LongestBatch time.Duration
}

// Report is what Enforce did.
type Report struct {
	// Categories holds one entry per rule, in the order they were applied
	// (the order of Categories).
	Categories []CategoryReport
	Batches    int
	// LongestBatch is the longest batch, from its BEGIN to the end of its
	// COMMIT: no row lock of the purge was held longer.
	LongestBatch time.Duration
	Duration     time.Duration
}

// Batch is one committed batch, as Options.AfterBatch sees it.
type Batch struct {
	Category   Category
	Action     Action
	Deleted    privacy.Counts
	Anonymized privacy.Counts
	Duration   time.Duration
}

// Beginner starts a transaction: a *pgxpool.Pool or a *pgx.Conn. (A pgx.Tx
// works too, each batch a savepoint, but then nothing commits until the
// caller does, and the batches' locks add up.)
type Beginner = privacy.Beginner

// checkRules refuses unknown categories and actions, repeated categories,
// negative durations, and an Anonymize that needs a key without one.
func checkRules(rules []Rule, key []byte) (map[Category]Rule, *pads, error) {
	byCat := map[Category]Rule{}
	var p *pads
	for _, r := range rules {
		s, ok := spec(r.Category)
		if !ok {
			return nil, nil, fmt.Errorf("retention: unknown category %q", r.Category)
		}
		if a := r.action(); a != Delete && a != Anonymize {
			return nil, nil, fmt.Errorf("retention: %s: unknown action %q", r.Category, r.Action)
		}
		if r.RetainFor < 0 {
			return nil, nil, fmt.Errorf("retention: %s: retainFor %s is negative", r.Category, r.RetainFor)
		}
		if _, dup := byCat[r.Category]; dup {
			return nil, nil, fmt.Errorf("retention: %s has two rules", r.Category)
		}
		byCat[r.Category] = r
		if r.action() == Anonymize && needsKey(s) && p == nil {
			var err error
			if p, err = newPads(key); err != nil {
				return nil, nil, fmt.Errorf("retention: anonymising %s: %w", r.Category, err)
			}
		}
	}
	return byCat, p, nil
}

// ordered returns the rules in the order of Categories.
func ordered(byCat map[Category]Rule) []Rule {
	var out []Rule
	for _, s := range Categories {
		if r, ok := byCat[s.Category]; ok {
			out = append(out, r)
		}
	}
	return out
}

// Enforce deletes or anonymises, for each rule, the rows of its category
// older than now less RetainFor, in batches of their own short
// transactions (see the package documentation). It is idempotent, and safe
// to stop at any point: each batch commits whole, and a later run carries
// on. On an error, the report says what was done before it.
func Enforce(ctx context.Context, db Beginner, rules []Rule, now time.Time, opts Options) (Report, error) {
	start := time.Now()
	byCat, p, err := checkRules(rules, opts.Key)
	if err != nil {
		return Report{}, err
	}
	e := &enforcer{db: db, opts: opts.withDefaults(), pads: p, now: now.UTC(), rules: byCat}
	e.n = min(firstBatch, e.opts.BatchSize)
	var rep Report
	for _, r := range ordered(byCat) {
		e.cur = &CategoryReport{Outcome: Outcome{Category: r.Category, Action: r.action(), Cutoff: e.now.Add(-r.RetainFor),
			Deleted: privacy.Counts{}, Anonymized: privacy.Counts{}}}
		err := e.run(ctx, r)
		rep.Categories = append(rep.Categories, *e.cur)
		rep.Batches += e.cur.Batches
		rep.LongestBatch = max(rep.LongestBatch, e.cur.LongestBatch)
		if err != nil {
			rep.Duration = time.Since(start)
			return rep, fmt.Errorf("retention: %s (%s): %w", r.Category, r.action(), err)
		}
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

type enforcer struct {
	db    Beginner
	opts  Options
	pads  *pads
	now   time.Time
	rules map[Category]Rule
	cur   *CategoryReport
	// n is the size of the next batch.
	n int
}

// adapt sizes the next batch by how long the last one took.
func (e *enforcer) adapt(took time.Duration) {
	switch {
	case took > e.opts.BatchDuration:
		e.n = max(e.n/2, min(minBatch, e.opts.BatchSize))
	case took < e.opts.BatchDuration/2:
		e.n = min(e.n*2, e.opts.BatchSize)
	}
}

// tally is what one batch changed.
type tally struct{ deleted, anonymized privacy.Counts }

func (t *tally) del(table string, tag pgconn.CommandTag) {
	if n := tag.RowsAffected(); n > 0 {
		t.deleted[table] += n
	}
}

func (t *tally) anon(table string, tag pgconn.CommandTag) {
	if n := tag.RowsAffected(); n > 0 {
		t.anonymized[table] += n
	}
}

// batch runs fn in a transaction of its own with the batch's timeouts, and
// counts what it changed once it has committed. A batch that could not take
// a lock in time (or lost a deadlock) rolls back and is tried again, a few
// times, after a pause that lets the holder finish.
func (e *enforcer) batch(ctx context.Context, fn func(tx pgx.Tx, t *tally) error) error {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := &tally{deleted: privacy.Counts{}, anonymized: privacy.Counts{}}
		began := time.Now()
		err := e.try(ctx, fn, t)
		took := time.Since(began)
		if err == nil || retryable(err) {
			e.adapt(took)
		}
		if err == nil {
			if t.deleted.Total()+t.anonymized.Total() == 0 {
				return nil // nothing was left: not a batch
			}
			c := e.cur
			c.Deleted.Add(t.deleted)
			c.Anonymized.Add(t.anonymized)
			c.Batches++
			c.LongestBatch = max(c.LongestBatch, took)
			if e.opts.AfterBatch != nil {
				return e.opts.AfterBatch(Batch{Category: c.Category, Action: c.Action, Deleted: t.deleted, Anonymized: t.anonymized, Duration: took})
			}
			return nil
		}
		if !retryable(err) || attempt == maxAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 4 * e.opts.LockTimeout):
		}
	}
}

func (e *enforcer) try(ctx context.Context, fn func(tx pgx.Tx, t *tally) error, t *tally) error {
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning a batch: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true),
			set_config('TimeZone', 'UTC', true)`,
		fmt.Sprintf("%dms", e.opts.LockTimeout.Milliseconds()), fmt.Sprintf("%dms", e.opts.StatementTimeout.Milliseconds())); err != nil {
		return fmt.Errorf("setting the batch's timeouts: %w", err)
	}
	if err := fn(tx, t); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// retryable: a lock not taken within lock_timeout, a deadlock, a
// serialization failure.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && slices.Contains([]string{"55P03", "40P01", "40001"}, pe.Code)
}

func (e *enforcer) run(ctx context.Context, r Rule) error {
	s, _ := spec(r.Category)
	cut := e.cur.Cutoff
	switch r.Category {
	case Conversations:
		return e.conversations(ctx, cut, r.action())
	case Contacts:
		return e.contacts(ctx, cut, r.action())
	case Sessions:
		for _, t := range s.Tables {
			if err := e.deleteOld(ctx, t, keyColumn(t.Name), cut, ""); err != nil {
				return err
			}
		}
		return nil
	}
	t := s.Tables[0]
	extra := ""
	if r.Category == DeliveryEvents {
		extra = deliveryNotRestricted
	}
	if r.action() == Delete {
		return e.deleteOld(ctx, t, "id", cut, extra)
	}
	return e.anonymizeOld(ctx, t, cut, extra)
}

func keyColumn(table string) string {
	if table == "sessions" {
		return "token_hash"
	}
	return "id"
}

// deliveryNotRestricted keeps the delivery events of restricted contacts.
const deliveryNotRestricted = `NOT EXISTS (SELECT 1 FROM messages m JOIN conversations c ON c.id = m.conversation_id
	JOIN contacts r ON r.id = c.contact_id WHERE m.id = t.message_id AND r.processing_restricted)`

// deleteOld deletes a table's rows aged past cut, oldest first, a batch at
// a time. Rows someone else holds are skipped, for the next run.
func (e *enforcer) deleteOld(ctx context.Context, t Table, key string, cut time.Time, extra string) error {
	if extra != "" {
		extra = " AND " + extra
	}
	q := fmt.Sprintf(`DELETE FROM %[1]s WHERE %[2]s IN (SELECT t.%[2]s FROM %[1]s t WHERE %[3]s < $1%[4]s
		ORDER BY %[3]s LIMIT $2 FOR UPDATE SKIP LOCKED)`, t.Name, key, qualify(t.AgedBy), extra)
	for {
		var n, size int64
		err := e.batch(ctx, func(tx pgx.Tx, tl *tally) error {
			size = int64(e.n)
			tag, err := tx.Exec(ctx, q, cut, size)
			if err != nil {
				return fmt.Errorf("deleting from %s: %w", t.Name, err)
			}
			tl.del(t.Name, tag)
			n = tag.RowsAffected()
			return nil
		})
		if err != nil || n < size {
			return err
		}
	}
}

// qualify prefixes the bare columns of an AgedBy expression with "t.".
func qualify(expr string) string {
	switch expr {
	case "coalesce(accepted_at, expires_at)":
		return "coalesce(t.accepted_at, t.expires_at)"
	case "coalesce(revoked_at, expires_at)":
		return "coalesce(t.revoked_at, t.expires_at)"
	}
	return "t." + expr
}

// anonymizeOld anonymises a table's pending rows aged past cut, oldest
// first; a cursor carries the run past rows it could not take.
func (e *enforcer) anonymizeOld(ctx context.Context, t Table, cut time.Time, extra string) error {
	if extra != "" {
		extra = " AND " + extra
	}
	age := qualify(t.AgedBy)
	sel := fmt.Sprintf(`SELECT t.id, %[2]s FROM %[1]s t WHERE %[2]s < $1 AND %[3]s AND (%[2]s, t.id) > ($2, $3)%[4]s
		ORDER BY %[2]s, t.id LIMIT $4 FOR UPDATE SKIP LOCKED`, t.Name, age, pending(t), extra)
	curAt, curID := time.Time{}, int64(0)
	for {
		var ids []int64
		var lastAt time.Time
		var lastID int64
		var size int
		err := e.batch(ctx, func(tx pgx.Tx, tl *tally) error {
			ids, lastAt, lastID, size = nil, curAt, curID, e.n
			rows, err := tx.Query(ctx, sel, cut, curAt, curID, size)
			if err != nil {
				return fmt.Errorf("choosing rows of %s: %w", t.Name, err)
			}
			for rows.Next() {
				var id int64
				var at time.Time
				if err := rows.Scan(&id, &at); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
				if at.After(lastAt) || at.Equal(lastAt) && id > lastID {
					lastAt, lastID = at, id
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("choosing rows of %s: %w", t.Name, err)
			}
			if len(ids) == 0 {
				return nil
			}
			q, a := anonymizeSQL(t, "id", ids, e.pads, e.now)
			tag, err := tx.Exec(ctx, q, a...)
			if err != nil {
				return fmt.Errorf("anonymising %s: %w", t.Name, err)
			}
			tl.anon(t.Name, tag)
			return nil
		})
		if err != nil || len(ids) < size {
			return err
		}
		curAt, curID = lastAt, lastID
	}
}
