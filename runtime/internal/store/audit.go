package store

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditEntry says who did what to which object, and when. Ids only.
type AuditEntry struct {
	ID         int64
	At         time.Time
	ActorID    *int64
	ActorKind  string
	Action     string
	ObjectType string
	ObjectID   string
	// ConversationID is the conversation of a message entry, for a link.
	ConversationID *int64 `json:"-"`
}

// Audit records an entry. objectID is an id, never a name, email, phone
// number or message body.
func (s *Store) Audit(ctx context.Context, q Querier, actorID *int64, actorKind, action, objectType string, objectID int64) (err error) {
	defer wrap(&err, "Audit(%q, %s, %d)", action, objectType, objectID)
	if q == nil {
		q = s.Pool
	}
	_, err = q.Exec(ctx, `INSERT INTO audit_log (actor_id, actor_kind, action, object_type, object_id) VALUES ($1, $2, $3, $4, $5)`,
		actorID, actorKind, action, objectType, strconv.FormatInt(objectID, 10))
	return err
}

// Audited runs fn and the audit entry of its change in one transaction, so
// that no change goes unrecorded and no entry records a change that did not
// happen. fn returns the id of the object it changed; the entry says that
// the user actor did action to it.
func (s *Store) Audited(ctx context.Context, actor *int64, action, objectType string, fn func(tx pgx.Tx) (int64, error)) error {
	return s.Transact(ctx, func(tx pgx.Tx) error {
		id, err := fn(tx)
		if err != nil {
			return err
		}
		return s.Audit(ctx, tx, actor, "user", action, objectType, id)
	})
}

// AuditEach records the same action on each of objectIDs, in order, in one
// statement (a bulk operation's entries).
func (s *Store) AuditEach(ctx context.Context, q Querier, actorID *int64, actorKind, action, objectType string, objectIDs []int64) (err error) {
	defer wrap(&err, "AuditEach(%q, %s, %d ids)", action, objectType, len(objectIDs))
	if len(objectIDs) == 0 {
		return nil
	}
	if q == nil {
		q = s.Pool
	}
	ids := make([]string, len(objectIDs))
	for i, id := range objectIDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	_, err = q.Exec(ctx, `INSERT INTO audit_log (actor_id, actor_kind, action, object_type, object_id)
		SELECT $1, $2, $3, $4, id FROM unnest($5::text[]) WITH ORDINALITY AS t(id, n) ORDER BY n`,
		actorID, actorKind, action, objectType, ids)
	return err
}

// AuditFilter narrows the audit log.
type AuditFilter struct {
	ActorID    int64
	Action     string
	ObjectType string
	ObjectID   string
	Before     int64 // entries with a smaller id (paging)
	// Query keeps entries where each word is found in the action, the
	// actor's name or kind, or the object's type or id ("team created ada").
	Query string
	Limit int
}

// AuditLog lists entries, newest first.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter) (_ []*AuditEntry, err error) {
	defer wrap(&err, "AuditLog")
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	rows, err := s.Pool.Query(ctx, `SELECT a.id, a.at, a.actor_id, a.actor_kind, a.action, a.object_type, a.object_id, m.conversation_id
		FROM audit_log a
		LEFT JOIN users u ON u.id = a.actor_id
		LEFT JOIN messages m ON a.object_type = 'message' AND m.id = CASE WHEN a.object_id ~ '^[0-9]{1,18}$' THEN a.object_id::bigint END
		WHERE ($1 = 0 OR a.actor_id = $1) AND ($2 = '' OR a.action = $2) AND ($3 = '' OR a.object_type = $3)
		AND ($4 = '' OR a.object_id = $4) AND ($5 = 0 OR a.id < $5)
		AND NOT EXISTS (SELECT 1 FROM unnest($7::text[]) w WHERE NOT (
			strpos(a.action, w) > 0 OR strpos(lower(coalesce(u.name, '')), w) > 0 OR a.actor_kind = w
			OR strpos(a.object_type, w) > 0 OR a.object_id = w OR a.object_id = ltrim(w, '#')))
		ORDER BY a.id DESC LIMIT $6`, f.ActorID, f.Action, f.ObjectType, f.ObjectID, f.Before, f.Limit, auditWords(f.Query))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*AuditEntry
	for rows.Next() {
		e := &AuditEntry{}
		if err := rows.Scan(&e.ID, &e.At, &e.ActorID, &e.ActorKind, &e.Action, &e.ObjectType, &e.ObjectID, &e.ConversationID); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
