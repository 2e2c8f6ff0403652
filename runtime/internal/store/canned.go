package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// CannedReply is a saved answer agents insert with /shortcut.
type CannedReply struct {
	ID       int64  `json:"id"`
	Shortcut string `json:"shortcut"`
	Title    string `json:"title"`
	Body     string `json:"body"`
}

// CreateCannedReply adds a canned reply. A taken shortcut gives
// ErrConflict, and one that is not 1 to 32 lower-case letters, digits, '-'
// or '_' ErrInvalid.
func (s *Store) CreateCannedReply(ctx context.Context, q Querier, by int64, c *CannedReply) (_ *CannedReply, err error) {
	defer wrap(&err, "CreateCannedReply")
	err = q.QueryRow(ctx, `INSERT INTO canned_replies (shortcut, title, body, created_by) VALUES ($1, $2, $3, $4) RETURNING id`,
		c.Shortcut, c.Title, c.Body, by).Scan(&c.ID)
	switch {
	case isUnique(err):
		return nil, ErrConflict
	case isCheck(err):
		return nil, fmt.Errorf("%w: shortcut", ErrInvalid)
	case err != nil:
		return nil, err
	}
	return c, nil
}

// CannedReplies lists canned replies whose shortcut starts with prefix.
func (s *Store) CannedReplies(ctx context.Context, prefix string) (_ []*CannedReply, err error) {
	defer wrap(&err, "CannedReplies")
	rows, err := s.Pool.Query(ctx, `SELECT id, shortcut, title, body FROM canned_replies WHERE shortcut LIKE $1 || '%' ORDER BY shortcut`, prefix)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToAddrOfStructByPos[CannedReply])
}

// DeleteCannedReply removes a canned reply.
func (s *Store) DeleteCannedReply(ctx context.Context, q Querier, id int64) (err error) {
	defer wrap(&err, "DeleteCannedReply(%d)", id)
	tag, err := q.Exec(ctx, `DELETE FROM canned_replies WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}
