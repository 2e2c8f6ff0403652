package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// MaxNoteLen is the longest note accepted, in bytes.
const MaxNoteLen = 64 << 10

// Note is a team member's remark on a contact.
type Note struct {
	ID        int64     `json:"id"`
	ContactID int64     `json:"contactId"`
	AuthorID  *int64    `json:"authorId,omitempty"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"createdAt"`
}

const noteCols = `id, contact_id, author_id, body, created_at`

func scanNote(row pgx.Row) (*Note, error) {
	n := &Note{}
	err := row.Scan(&n.ID, &n.ContactID, &n.AuthorID, &n.Body, &n.CreatedAt)
	return n, notFound(err)
}

// AddNote adds a note to a contact. A restricted contact gives ErrRestricted.
func (s *Store) AddNote(ctx context.Context, q Querier, contactID int64, authorID *int64, body string) (_ *Note, err error) {
	defer wrap(&err, "AddNote(%d)", contactID)
	if q == nil {
		q = s.Pool
	}
	switch {
	case strings.TrimSpace(body) == "":
		return nil, fmt.Errorf("%w: body is required", ErrInvalid)
	case len(body) > MaxNoteLen:
		return nil, fmt.Errorf("%w: body is longer than %d bytes", ErrInvalid, MaxNoteLen)
	case !utf8.ValidString(body) || strings.ContainsRune(body, 0):
		return nil, fmt.Errorf("%w: body is not text", ErrInvalid)
	}
	n, err := scanNote(q.QueryRow(ctx, `INSERT INTO notes (contact_id, author_id, body)
		SELECT id, $2, $3 FROM contacts WHERE id = $1 AND NOT processing_restricted RETURNING `+noteCols, contactID, authorID, body))
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, notWritable(ctx, q, contactID)
	case isForeignKey(err):
		return nil, fmt.Errorf("%w: authorId: no such user", ErrInvalid)
	case err != nil:
		return nil, err
	}
	return n, nil
}

// Notes lists a contact's notes, newest first.
func (s *Store) Notes(ctx context.Context, contactID int64) (_ []*Note, err error) {
	defer wrap(&err, "Notes(%d)", contactID)
	rows, err := s.Pool.Query(ctx, `SELECT `+noteCols+` FROM notes WHERE contact_id = $1 ORDER BY created_at DESC, id DESC`, contactID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Note
	for rows.Next() {
		n, err := scanNote(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
