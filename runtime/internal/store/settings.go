package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// TeamByID returns a team with its members.
func (s *Store) TeamByID(ctx context.Context, id int64) (_ *Team, err error) {
	defer wrap(&err, "TeamByID(%d)", id)
	t := &Team{}
	err = s.Pool.QueryRow(ctx, `SELECT t.id, t.name, coalesce(array_agg(m.user_id ORDER BY m.user_id) FILTER (WHERE m.user_id IS NOT NULL), '{}')
		FROM teams t LEFT JOIN team_members m ON m.team_id = t.id WHERE t.id = $1 GROUP BY t.id`, id).Scan(&t.ID, &t.Name, &t.Members)
	return t, notFound(err)
}

// CannedReplyByID returns a canned reply.
func (s *Store) CannedReplyByID(ctx context.Context, id int64) (_ *CannedReply, err error) {
	defer wrap(&err, "CannedReplyByID(%d)", id)
	c := &CannedReply{}
	err = s.Pool.QueryRow(ctx, `SELECT id, shortcut, title, body FROM canned_replies WHERE id = $1`, id).
		Scan(&c.ID, &c.Shortcut, &c.Title, &c.Body)
	return c, notFound(err)
}

// UpdateCannedReply changes a canned reply's shortcut, title and text;
// errors as CreateCannedReply's, and ErrNotFound.
func (s *Store) UpdateCannedReply(ctx context.Context, q Querier, c *CannedReply) (err error) {
	defer wrap(&err, "UpdateCannedReply(%d)", c.ID)
	tag, err := q.Exec(ctx, `UPDATE canned_replies SET shortcut = $2, title = $3, body = $4 WHERE id = $1`,
		c.ID, c.Shortcut, c.Title, c.Body)
	switch {
	case isUnique(err):
		return ErrConflict
	case isCheck(err):
		return fmt.Errorf("%w: shortcut", ErrInvalid)
	case err != nil:
		return err
	case tag.RowsAffected() == 0:
		return ErrNotFound
	}
	return nil
}

// ReissueInvite gives a pending invite a new token hash and expiry: the old
// link stops working. ErrNotFound if it was accepted or does not exist.
func (s *Store) ReissueInvite(ctx context.Context, q Querier, id int64, tokenHash []byte, expires time.Time) (_ *Invite, err error) {
	defer wrap(&err, "ReissueInvite(%d)", id)
	inv := &Invite{}
	err = q.QueryRow(ctx, `UPDATE invites SET token_hash = $2, expires_at = $3 WHERE id = $1 AND accepted_at IS NULL
		RETURNING id, email, role, invited_by, created_at, expires_at`, id, tokenHash, expires).
		Scan(&inv.ID, &inv.Email, &inv.Role, &inv.InvitedBy, &inv.CreatedAt, &inv.ExpiresAt)
	return inv, notFound(err)
}

// RevokeInvite deletes a pending invite: its link stops working.
func (s *Store) RevokeInvite(ctx context.Context, q Querier, id int64) (err error) {
	defer wrap(&err, "RevokeInvite(%d)", id)
	tag, err := q.Exec(ctx, `DELETE FROM invites WHERE id = $1 AND accepted_at IS NULL`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// SessionSummary is one of a member's signed-in browsers, as their
// security settings list them.
type SessionSummary struct {
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	Current    bool // the session asking
}

// UserSessions lists a member's live sessions, most recently seen first;
// the one whose token hash is current is marked.
func (s *Store) UserSessions(ctx context.Context, userID int64, current []byte) (_ []SessionSummary, err error) {
	defer wrap(&err, "UserSessions(%d)", userID)
	rows, err := s.Pool.Query(ctx, `SELECT created_at, last_seen_at, expires_at, token_hash = $2 FROM sessions
		WHERE user_id = $1 AND expires_at > now() ORDER BY token_hash = $2 DESC, last_seen_at DESC`, userID, current)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[SessionSummary])
}

// DeleteOtherSessions signs a member out everywhere but the session whose
// token hash is keep, and says how many sessions ended.
func (s *Store) DeleteOtherSessions(ctx context.Context, q Querier, userID int64, keep []byte) (_ int64, err error) {
	defer wrap(&err, "DeleteOtherSessions(%d)", userID)
	tag, err := q.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2`, userID, keep)
	return tag.RowsAffected(), err
}

// auditWords splits an audit log search into lower-case words.
func auditWords(q string) []string {
	words := strings.Fields(strings.ToLower(q))
	if len(words) > 8 {
		words = words[:8]
	}
	return words
}
