package store

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is a member of the workspace's team.
type User struct {
	ID                 int64
	Email              string
	Name               string
	Role               string
	PasswordHash       string
	MustChangePassword bool
	Disabled           bool
	CreatedAt          time.Time
	// TimeZone is the IANA zone the member chose (Europe/Berlin), or ""
	// for their browser's.
	TimeZone string
}

const userCols = `id, email, name, role, password_hash, must_change_password, disabled_at IS NOT NULL, created_at, coalesce(time_zone, '')`

func scanUser(row pgx.Row) (*User, error) {
	u := &User{}
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.MustChangePassword, &u.Disabled, &u.CreatedAt, &u.TimeZone)
	return u, notFound(err)
}

// CreateUser adds a user; a taken email gives ErrConflict.
func (s *Store) CreateUser(ctx context.Context, q Querier, u *User) (_ *User, err error) {
	defer wrap(&err, "CreateUser")
	row := q.QueryRow(ctx, `INSERT INTO users (email, name, role, password_hash, must_change_password)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+userCols,
		strings.ToLower(strings.TrimSpace(u.Email)), u.Name, u.Role, u.PasswordHash, u.MustChangePassword)
	out, err := scanUser(row)
	if isUnique(err) {
		return nil, ErrConflict
	}
	return out, err
}

// UserByEmail finds a user by email.
func (s *Store) UserByEmail(ctx context.Context, email string) (_ *User, err error) {
	defer wrap(&err, "UserByEmail")
	return scanUser(s.Pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE email = $1`, strings.ToLower(strings.TrimSpace(email))))
}

// UserByID finds a user.
func (s *Store) UserByID(ctx context.Context, id int64) (_ *User, err error) {
	defer wrap(&err, "UserByID(%d)", id)
	return scanUser(s.Pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
}

// Users lists the team, owners first.
func (s *Store) Users(ctx context.Context) (_ []*User, err error) {
	defer wrap(&err, "Users")
	rows, err := s.Pool.Query(ctx, `SELECT `+userCols+` FROM users
		ORDER BY array_position(ARRAY['owner','admin','agent','viewer'], role), lower(name), id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// CountUsers counts users.
func (s *Store) CountUsers(ctx context.Context) (_ int, err error) {
	defer wrap(&err, "CountUsers")
	var n int
	err = s.Pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

// ChangePassword replaces a user's password hash, clears
// must_change_password and ends every session of the user, in one
// transaction (a savepoint of q when q is one); with revokeTokens it also
// revokes all the user's API tokens, and says how many.
func (s *Store) ChangePassword(ctx context.Context, q Querier, id int64, hash string, revokeTokens bool) (revoked int64, err error) {
	defer wrap(&err, "ChangePassword(%d)", id)
	err = s.inTx(ctx, q, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, must_change_password = false, updated_at = now() WHERE id = $1`, id, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
			return err
		}
		if !revokeTokens {
			return nil
		}
		tag, err = tx.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, id)
		revoked = tag.RowsAffected()
		return err
	})
	return revoked, err
}

// SetRole changes a user's role.
func (s *Store) SetRole(ctx context.Context, q Querier, id int64, role string) (err error) {
	defer wrap(&err, "SetRole(%d, %q)", id, role)
	tag, err := q.Exec(ctx, `UPDATE users SET role = $2, updated_at = now() WHERE id = $1`, id, role)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// SetDisabled disables or re-enables a user; disabling ends their sessions,
// in one transaction (a savepoint of q when q is one).
func (s *Store) SetDisabled(ctx context.Context, q Querier, id int64, disabled bool) (err error) {
	defer wrap(&err, "SetDisabled(%d, %t)", id, disabled)
	return s.inTx(ctx, q, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET disabled_at = CASE WHEN $2 THEN now() END, updated_at = now() WHERE id = $1`, id, disabled)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if disabled {
			_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id)
		}
		return err
	})
}

// SetProfile changes what a member says about themselves: their name, and
// their time zone ("" for their browser's).
func (s *Store) SetProfile(ctx context.Context, q Querier, id int64, name, timeZone string) (err error) {
	defer wrap(&err, "SetProfile(%d)", id)
	tag, err := q.Exec(ctx, `UPDATE users SET name = $2, time_zone = NULLIF($3, ''), updated_at = now() WHERE id = $1`, id, name, timeZone)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}
