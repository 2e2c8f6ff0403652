package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Member is an active member of the workspace, as a mention names them.
type Member struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Role  string `json:"role"`
}

// Members lists the active (not disabled) members, by name.
func (s *Store) Members(ctx context.Context, q Querier) (_ []Member, err error) {
	defer wrap(&err, "Members")
	if q == nil {
		q = s.Pool
	}
	rows, err := q.Query(ctx, `SELECT id, name, email, role FROM users WHERE disabled_at IS NULL ORDER BY lower(name), id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Member, error) {
		var m Member
		err := row.Scan(&m.ID, &m.Name, &m.Email, &m.Role)
		return m, err
	})
}

// Notification tells a member something that concerns them: for now, that
// a note mentions them.
type Notification struct {
	ID             int64  `json:"id"`
	Kind           string `json:"kind"` // mention
	ConversationID int64  `json:"conversationId"`
	MessageID      *int64 `json:"messageId,omitempty"`
	ActorID        *int64 `json:"actorId,omitempty"`
	// ActorName is the member who wrote the note ("" once they are erased).
	ActorName string `json:"actorName"`
	// Subject and ContactName say which conversation it is.
	Subject     string `json:"subject"`
	ContactName string `json:"contactName"`
	// Excerpt is the start of the note.
	Excerpt   string     `json:"excerpt"`
	CreatedAt time.Time  `json:"createdAt"`
	ReadAt    *time.Time `json:"readAt,omitempty"`
}

const notificationCols = `n.id, n.kind, n.conversation_id, n.message_id, n.actor_id, coalesce(a.name, ''),
	c.subject, coalesce(ct.name, ''), coalesce(left(m.body, 160), ''), n.created_at, n.read_at`

const notificationFrom = ` FROM notifications n
	JOIN conversations c ON c.id = n.conversation_id
	LEFT JOIN contacts ct ON ct.id = c.contact_id
	LEFT JOIN messages m ON m.id = n.message_id
	LEFT JOIN users a ON a.id = n.actor_id`

func scanNotification(row pgx.Row) (*Notification, error) {
	n := &Notification{}
	err := row.Scan(&n.ID, &n.Kind, &n.ConversationID, &n.MessageID, &n.ActorID, &n.ActorName,
		&n.Subject, &n.ContactName, &n.Excerpt, &n.CreatedAt, &n.ReadAt)
	return n, notFound(err)
}

// AddNotifications tells each of users that actor did kind on the message
// of a conversation, in q's transaction. A member told already about the
// message, a disabled member and an id that is no member are skipped. It
// returns the members told, in the order given.
func (s *Store) AddNotifications(ctx context.Context, q Querier, kind string, users []int64, conversationID int64, messageID, actorID *int64) (_ []int64, err error) {
	defer wrap(&err, "AddNotifications(%q, %d)", kind, conversationID)
	if len(users) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, `INSERT INTO notifications (user_id, kind, conversation_id, message_id, actor_id)
		SELECT u.id, $2, $3, $4, $5 FROM unnest($1::bigint[]) WITH ORDINALITY AS x(id, o)
		JOIN users u ON u.id = x.id AND u.disabled_at IS NULL
		ORDER BY x.o
		ON CONFLICT (user_id, message_id, kind) WHERE message_id IS NOT NULL DO NOTHING
		RETURNING user_id`, users, kind, conversationID, messageID, actorID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// NotificationFilter chooses a member's notifications.
type NotificationFilter struct {
	Unread bool
	// Before is a notification id: only older ones are listed (paging).
	Before int64
	// Limit is at most 100; 0 is 50.
	Limit int
}

// Notifications lists a member's notifications, newest first.
func (s *Store) Notifications(ctx context.Context, userID int64, f NotificationFilter) (_ []*Notification, err error) {
	defer wrap(&err, "Notifications(%d)", userID)
	if f.Limit <= 0 || f.Limit > 100 {
		f.Limit = 50
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+notificationCols+notificationFrom+`
		WHERE n.user_id = $1 AND (NOT $2 OR n.read_at IS NULL) AND ($3 = 0 OR n.id < $3)
		ORDER BY n.id DESC LIMIT $4`, userID, f.Unread, f.Before, f.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// UnreadNotifications counts a member's unread notifications.
func (s *Store) UnreadNotifications(ctx context.Context, userID int64) (_ int, err error) {
	defer wrap(&err, "UnreadNotifications(%d)", userID)
	var n int
	err = s.Pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, userID).Scan(&n)
	return n, err
}

// ReadNotification marks one of a member's notifications read and returns
// it; another member's gives ErrNotFound.
func (s *Store) ReadNotification(ctx context.Context, userID, id int64) (_ *Notification, err error) {
	defer wrap(&err, "ReadNotification(%d, %d)", userID, id)
	return scanNotification(s.Pool.QueryRow(ctx, `WITH u AS (
			UPDATE notifications SET read_at = coalesce(read_at, now()) WHERE id = $2 AND user_id = $1 RETURNING *)
		SELECT `+notificationCols+` FROM u n
		JOIN conversations c ON c.id = n.conversation_id
		LEFT JOIN contacts ct ON ct.id = c.contact_id
		LEFT JOIN messages m ON m.id = n.message_id
		LEFT JOIN users a ON a.id = n.actor_id`, userID, id))
}

// MarkNotificationsRead marks a member's notifications of ids read, or all
// of them with all. Ids of other members' notifications are ignored. It
// returns how many were unread.
func (s *Store) MarkNotificationsRead(ctx context.Context, userID int64, ids []int64, all bool) (_ int64, err error) {
	defer wrap(&err, "MarkNotificationsRead(%d)", userID)
	if ids == nil {
		ids = []int64{}
	}
	tag, err := s.Pool.Exec(ctx, `UPDATE notifications SET read_at = now()
		WHERE user_id = $1 AND read_at IS NULL AND ($3 OR id = ANY($2))`, userID, ids, all)
	return tag.RowsAffected(), err
}
