package store

import (
	"context"
	"time"
)

// LoginFailures counts the failures recorded under keyHash since since, and
// returns the oldest of them (zero when there are none).
func (s *Store) LoginFailures(ctx context.Context, keyHash []byte, since time.Time) (_ int, _ time.Time, err error) {
	defer wrap(&err, "LoginFailures")
	var n int
	var oldest *time.Time
	err = s.Pool.QueryRow(ctx, `SELECT count(*), min(failed_at) FROM login_failures
		WHERE key_hash = $1 AND failed_at > $2`, keyHash, since).Scan(&n, &oldest)
	if err != nil || oldest == nil {
		return n, time.Time{}, err
	}
	return n, *oldest, nil
}

// AddLoginFailure records a failure under keyHash at at, and returns its id.
func (s *Store) AddLoginFailure(ctx context.Context, keyHash []byte, at time.Time) (_ int64, err error) {
	defer wrap(&err, "AddLoginFailure")
	var id int64
	err = s.Pool.QueryRow(ctx, `INSERT INTO login_failures (key_hash, failed_at) VALUES ($1, $2) RETURNING id`, keyHash, at).Scan(&id)
	return id, err
}

// DeleteLoginFailure removes one recorded failure.
func (s *Store) DeleteLoginFailure(ctx context.Context, id int64) (err error) {
	defer wrap(&err, "DeleteLoginFailure(%d)", id)
	_, err = s.Pool.Exec(ctx, `DELETE FROM login_failures WHERE id = $1`, id)
	return err
}

// ClearLoginFailures forgets every failure recorded under keyHash.
func (s *Store) ClearLoginFailures(ctx context.Context, keyHash []byte) (err error) {
	defer wrap(&err, "ClearLoginFailures")
	_, err = s.Pool.Exec(ctx, `DELETE FROM login_failures WHERE key_hash = $1`, keyHash)
	return err
}

// DeleteLoginFailuresBefore removes failures older than before and says how many.
func (s *Store) DeleteLoginFailuresBefore(ctx context.Context, before time.Time) (_ int64, err error) {
	defer wrap(&err, "DeleteLoginFailuresBefore")
	tag, err := s.Pool.Exec(ctx, `DELETE FROM login_failures WHERE failed_at < $1`, before)
	return tag.RowsAffected(), err
}
