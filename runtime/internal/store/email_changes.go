package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// EmailChange is a member's pending change of their email address.
type EmailChange struct {
	UserID    int64
	NewEmail  string
	ExpiresAt time.Time
	CreatedAt time.Time
	// OldEmail is the address it replaced; set by ConfirmEmailChange only.
	OldEmail string
}

// StartEmailChange records that member userID asked to change their email
// to newEmail (lower case), replacing any change they had pending. The
// confirmation link's token is stored as its hash. It is ErrConflict when
// another member has that address.
func (s *Store) StartEmailChange(ctx context.Context, q Querier, userID int64, newEmail string, tokenHash []byte, expires time.Time) (_ *EmailChange, err error) {
	defer wrap(&err, "StartEmailChange(%d)", userID)
	if q == nil {
		q = s.Pool
	}
	var taken bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE email = $1 AND id <> $2)`, newEmail, userID).Scan(&taken); err != nil {
		return nil, err
	}
	if taken {
		return nil, ErrConflict
	}
	c := &EmailChange{}
	err = q.QueryRow(ctx, `INSERT INTO email_changes (user_id, new_email, token_hash, expires_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET new_email = EXCLUDED.new_email, token_hash = EXCLUDED.token_hash,
			expires_at = EXCLUDED.expires_at, created_at = now()
		RETURNING user_id, new_email, expires_at, created_at`, userID, newEmail, tokenHash, expires).
		Scan(&c.UserID, &c.NewEmail, &c.ExpiresAt, &c.CreatedAt)
	return c, err
}

// PendingEmailChange returns member userID's unexpired email change, or
// ErrNotFound.
func (s *Store) PendingEmailChange(ctx context.Context, userID int64) (_ *EmailChange, err error) {
	defer wrap(&err, "PendingEmailChange(%d)", userID)
	c := &EmailChange{}
	err = s.Pool.QueryRow(ctx, `SELECT user_id, new_email, expires_at, created_at FROM email_changes
		WHERE user_id = $1 AND expires_at > now()`, userID).Scan(&c.UserID, &c.NewEmail, &c.ExpiresAt, &c.CreatedAt)
	return c, notFound(err)
}

// EmailChangeByHash returns the email change a confirmation link's token
// hash names: ErrNotFound when there is none (never sent, already used,
// replaced or cancelled), ErrExpired when it has expired.
func (s *Store) EmailChangeByHash(ctx context.Context, tokenHash []byte) (_ *EmailChange, err error) {
	defer wrap(&err, "EmailChangeByHash")
	c := &EmailChange{}
	err = s.Pool.QueryRow(ctx, `SELECT user_id, new_email, expires_at, created_at FROM email_changes WHERE token_hash = $1`, tokenHash).
		Scan(&c.UserID, &c.NewEmail, &c.ExpiresAt, &c.CreatedAt)
	if err != nil {
		return nil, notFound(err)
	}
	if !c.ExpiresAt.After(time.Now()) {
		return nil, ErrExpired
	}
	return c, nil
}

// ConfirmEmailChange makes the change a confirmation link's token hash
// names: the member's email becomes the new address and the pending change
// is used up, in a savepoint of q when q is a transaction. Errors are
// those of EmailChangeByHash, and ErrConflict when another member took the
// address meanwhile.
func (s *Store) ConfirmEmailChange(ctx context.Context, q Querier, tokenHash []byte) (_ *EmailChange, err error) {
	defer wrap(&err, "ConfirmEmailChange")
	c := &EmailChange{}
	err = s.inTx(ctx, q, func(tx pgx.Tx) error {
		var live bool
		err := tx.QueryRow(ctx, `DELETE FROM email_changes WHERE token_hash = $1
			RETURNING user_id, new_email, expires_at, created_at, expires_at > now()`, tokenHash).
			Scan(&c.UserID, &c.NewEmail, &c.ExpiresAt, &c.CreatedAt, &live)
		if err != nil {
			return notFound(err)
		}
		if !live {
			return ErrExpired
		}
		if err := tx.QueryRow(ctx, `SELECT email FROM users WHERE id = $1 FOR UPDATE`, c.UserID).Scan(&c.OldEmail); err != nil {
			return notFound(err)
		}
		_, err = tx.Exec(ctx, `UPDATE users SET email = $2, updated_at = now() WHERE id = $1`, c.UserID, c.NewEmail)
		if isUnique(err) {
			return ErrConflict
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// CancelEmailChange drops member userID's pending email change, if any;
// it says whether there was one.
func (s *Store) CancelEmailChange(ctx context.Context, q Querier, userID int64) (_ bool, err error) {
	defer wrap(&err, "CancelEmailChange(%d)", userID)
	if q == nil {
		q = s.Pool
	}
	tag, err := q.Exec(ctx, `DELETE FROM email_changes WHERE user_id = $1`, userID)
	return err == nil && tag.RowsAffected() > 0, err
}
