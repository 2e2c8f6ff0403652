package store

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Invite is an open invitation to join the team.
type Invite struct {
	ID        int64
	Email     string
	Role      string
	InvitedBy *int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreateInvite stores an invite under the hash of its token.
func (s *Store) CreateInvite(ctx context.Context, q Querier, email, role string, tokenHash []byte, by int64, expires time.Time) (_ *Invite, err error) {
	defer wrap(&err, "CreateInvite")
	inv := &Invite{}
	err = q.QueryRow(ctx, `INSERT INTO invites (email, role, token_hash, invited_by, expires_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id, email, role, invited_by, created_at, expires_at`,
		strings.ToLower(strings.TrimSpace(email)), role, tokenHash, by, expires).
		Scan(&inv.ID, &inv.Email, &inv.Role, &inv.InvitedBy, &inv.CreatedAt, &inv.ExpiresAt)
	return inv, err
}

// InviteByHash returns an unexpired, unaccepted invite.
func (s *Store) InviteByHash(ctx context.Context, tokenHash []byte) (_ *Invite, err error) {
	defer wrap(&err, "InviteByHash")
	inv := &Invite{}
	err = s.Pool.QueryRow(ctx, `SELECT id, email, role, invited_by, created_at, expires_at FROM invites
		WHERE token_hash = $1 AND accepted_at IS NULL AND expires_at > now()`, tokenHash).
		Scan(&inv.ID, &inv.Email, &inv.Role, &inv.InvitedBy, &inv.CreatedAt, &inv.ExpiresAt)
	return inv, notFound(err)
}

// AcceptInvite creates the user and marks the invite used, atomically (in
// a savepoint of q when q is a transaction): an invite link works once. It
// returns the user and the invite's id.
func (s *Store) AcceptInvite(ctx context.Context, q Querier, tokenHash []byte, name, passwordHash string) (u *User, inviteID int64, err error) {
	defer wrap(&err, "AcceptInvite")
	err = s.inTx(ctx, q, func(tx pgx.Tx) error {
		var email, role string
		err := tx.QueryRow(ctx, `UPDATE invites SET accepted_at = now()
			WHERE token_hash = $1 AND accepted_at IS NULL AND expires_at > now() RETURNING id, email, role`, tokenHash).Scan(&inviteID, &email, &role)
		if err != nil {
			return notFound(err)
		}
		u, err = s.CreateUser(ctx, tx, &User{Email: email, Name: name, Role: role, PasswordHash: passwordHash})
		return err
	})
	return u, inviteID, err
}

// PendingInvites lists invites not yet accepted or expired.
func (s *Store) PendingInvites(ctx context.Context) (_ []*Invite, err error) {
	defer wrap(&err, "PendingInvites")
	rows, err := s.Pool.Query(ctx, `SELECT id, email, role, invited_by, created_at, expires_at FROM invites
		WHERE accepted_at IS NULL AND expires_at > now() ORDER BY created_at DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Invite
	for rows.Next() {
		inv := &Invite{}
		if err := rows.Scan(&inv.ID, &inv.Email, &inv.Role, &inv.InvitedBy, &inv.CreatedAt, &inv.ExpiresAt); err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, rows.Err()
}
