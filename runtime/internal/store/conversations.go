package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Conversation is a thread with one contact on one channel.
type Conversation struct {
	ID            int64      `json:"id"`
	Channel       string     `json:"channel"`
	ContactID     int64      `json:"contactId"`
	ContactName   string     `json:"contactName"`
	Subject       string     `json:"subject"`
	Status        string     `json:"status"`
	SnoozedUntil  *time.Time `json:"snoozedUntil,omitempty"`
	AssigneeID    *int64     `json:"assigneeId,omitempty"`
	TeamID        *int64     `json:"teamId,omitempty"`
	Priority      string     `json:"priority"`
	Tags          []string   `json:"tags"`
	LastMessageAt time.Time  `json:"lastMessageAt"`
	CreatedAt     time.Time  `json:"createdAt"`
	Preview       string     `json:"preview"`
	// For a list read by a member (View.Reader): whether an incoming
	// message came after they last opened it, and the assignee's name.
	Unread       bool   `json:"unread,omitempty"`
	AssigneeName string `json:"assigneeName,omitempty"`
}

const convCols = `c.id, c.channel, c.contact_id, ct.name, c.subject, c.status, c.snoozed_until, c.assignee_id, c.team_id,
	c.priority, c.tags, c.last_message_at, c.created_at,
	coalesce((SELECT CASE WHEN m.body <> '' THEN left(m.body, 140)
		ELSE left('File: ' || (SELECT string_agg(a.filename, ', ' ORDER BY a.id) FROM attachments a WHERE a.message_id = m.id), 140) END
		FROM messages m WHERE m.conversation_id = c.id AND m.direction <> 'note' ORDER BY m.id DESC LIMIT 1), '')`

func scanConv(row pgx.Row) (*Conversation, error) {
	c := &Conversation{}
	err := row.Scan(&c.ID, &c.Channel, &c.ContactID, &c.ContactName, &c.Subject, &c.Status, &c.SnoozedUntil, &c.AssigneeID,
		&c.TeamID, &c.Priority, &c.Tags, &c.LastMessageAt, &c.CreatedAt, &c.Preview)
	return c, notFound(err)
}

// ConversationByID returns a conversation.
func (s *Store) ConversationByID(ctx context.Context, q Querier, id int64) (_ *Conversation, err error) {
	defer wrap(&err, "ConversationByID(%d)", id)
	if q == nil {
		q = s.Pool
	}
	return scanConv(q.QueryRow(ctx, `SELECT `+convCols+` FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = $1`, id))
}

// UnresolvedConversation returns the id of the contact's latest conversation
// on channel that is not resolved, locked until q's transaction ends, or
// ErrNotFound when there is none.
func (s *Store) UnresolvedConversation(ctx context.Context, q Querier, contactID int64, channel string) (_ int64, err error) {
	defer wrap(&err, "UnresolvedConversation(%d, %q)", contactID, channel)
	var id int64
	err = q.QueryRow(ctx, `SELECT id FROM conversations WHERE contact_id = $1 AND channel = $2 AND status <> 'resolved'
		ORDER BY last_message_at DESC, id DESC LIMIT 1 FOR UPDATE`, contactID, channel).Scan(&id)
	return id, notFound(err)
}

// CreateConversation opens a conversation with a contact on a channel, and
// returns its id.
func (s *Store) CreateConversation(ctx context.Context, q Querier, channel string, contactID int64, subject string) (_ int64, err error) {
	defer wrap(&err, "CreateConversation(%q, %d)", channel, contactID)
	var id int64
	err = q.QueryRow(ctx, `INSERT INTO conversations (channel, contact_id, subject) VALUES ($1, $2, $3) RETURNING id`,
		channel, contactID, subject).Scan(&id)
	return id, err
}

// searchWindow is how many matches of each kind (subject, contact,
// message) the list's search filter takes, newest first; the list's other
// filters and its page apply to those. Conversations past the cursor are
// taken by subject and contact, so a search pages to its end that way.
const searchWindow = 500

// View selects conversations for a working list.
type View struct {
	Status     string // open, pending, resolved, snoozed; empty: all
	AssigneeID int64  // with Mine
	Unassigned bool
	TeamID     int64
	Tag        string
	Channel    string
	ContactID  int64
	Search     string // words starting the subject, the contact's name, emails or phones, or message text (see SearchQuery)
	// Paging: conversations older than (BeforeAt, BeforeID).
	BeforeAt time.Time
	BeforeID int64
	Limit    int
	// Reader is the member whose unread markers the list shows (0: none).
	Reader int64
}

// Conversations lists a view, most recent activity first.
func (s *Store) Conversations(ctx context.Context, v View) (_ []*Conversation, err error) {
	defer wrap(&err, "Conversations")
	if v.Limit <= 0 || v.Limit > 200 {
		v.Limit = 50
	}
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if v.Status != "" {
		add("c.status = $%d", v.Status)
	}
	if v.AssigneeID != 0 {
		add("c.assignee_id = $%d", v.AssigneeID)
	}
	if v.Unassigned {
		where = append(where, "c.assignee_id IS NULL")
	}
	if v.TeamID != 0 {
		add("c.team_id = $%d", v.TeamID)
	}
	if v.Tag != "" {
		add("c.tags @> ARRAY[$%d]::text[]", v.Tag)
	}
	if v.Channel != "" {
		add("c.channel = $%d", v.Channel)
	}
	if v.ContactID != 0 {
		add("c.contact_id = $%d", v.ContactID)
	}
	if v.Search != "" {
		// Conversations whose subject or contact matches, and those of the
		// newest matching messages, at most searchWindow of them (see
		// messageHits). Probing conversations in list order instead costs
		// a scan of the whole list when a term is rare.
		sq, err := s.ParseSearch(ctx, v.Search)
		if err != nil {
			return nil, err
		}
		hits, err := s.messageHits(ctx, sq, 0, searchWindow, v.Limit)
		if err != nil {
			return nil, err
		}
		where = append(where, sq.conversationFilter(hits, v, &args))
	}
	if !v.BeforeAt.IsZero() {
		args = append(args, v.BeforeAt, v.BeforeID)
		where = append(where, fmt.Sprintf("(c.last_message_at, c.id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	extra := `, false, ''`
	if v.Reader != 0 {
		// Unread: an incoming message after the newest one the reader had
		// seen; the (conversation_id, id) index finds it from that point.
		args = append(args, v.Reader)
		extra = fmt.Sprintf(`, EXISTS (SELECT 1 FROM messages um WHERE um.conversation_id = c.id AND um.direction = 'incoming'
			AND um.id > coalesce((SELECT r.message_id FROM conversation_reads r WHERE r.user_id = $%d AND r.conversation_id = c.id), 0)),
			coalesce((SELECT u.name FROM users u WHERE u.id = c.assignee_id), '')`, len(args))
	}
	q := `SELECT ` + convCols + extra + ` FROM conversations c JOIN contacts ct ON ct.id = c.contact_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, v.Limit)
	q += fmt.Sprintf(" ORDER BY c.last_message_at DESC, c.id DESC LIMIT $%d", len(args))
	if v.Search != "" {
		args = append([]any{planned}, args...) // see planned
	}
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Conversation
	for rows.Next() {
		c := &Conversation{}
		if err := rows.Scan(&c.ID, &c.Channel, &c.ContactID, &c.ContactName, &c.Subject, &c.Status, &c.SnoozedUntil, &c.AssigneeID,
			&c.TeamID, &c.Priority, &c.Tags, &c.LastMessageAt, &c.CreatedAt, &c.Preview, &c.Unread, &c.AssigneeName); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ConversationChange is one change to a conversation's routing or state.
type ConversationChange struct {
	Status       *string
	SnoozedUntil *time.Time
	// UntilReply snoozes with no time: the next incoming message reopens it.
	UntilReply bool
	AssigneeID **int64
	TeamID     **int64
	Priority   *string
	AddTags    []string
	RemoveTags []string
}

// UpdateConversation applies a change and records each part in the timeline,
// in one transaction (a savepoint of q when q is one). It returns the
// conversation as it now is.
func (s *Store) UpdateConversation(ctx context.Context, q Querier, id int64, actor *int64, ch ConversationChange) (_ *Conversation, err error) {
	defer wrap(&err, "UpdateConversation(%d)", id)
	var out *Conversation
	err = s.inTx(ctx, q, func(tx pgx.Tx) error {
		cur, err := s.ConversationByID(ctx, tx, id)
		if err != nil {
			return err
		}
		event := func(kind string, data map[string]any) error {
			b, _ := json.Marshal(data)
			_, err := tx.Exec(ctx, `INSERT INTO conversation_events (conversation_id, actor_id, kind, data) VALUES ($1, $2, $3, $4)`, id, actor, kind, b)
			return err
		}
		// A snoozed conversation snoozed again with another time (or until
		// the reply) changes it; with neither, nothing changes.
		resnooze := ch.Status != nil && *ch.Status == "snoozed" && cur.Status == "snoozed" &&
			((ch.SnoozedUntil != nil && !sameTime(ch.SnoozedUntil, cur.SnoozedUntil)) || (ch.UntilReply && cur.SnoozedUntil != nil))
		if ch.Status != nil && (*ch.Status != cur.Status || resnooze) {
			var until *time.Time
			if *ch.Status == "snoozed" {
				if ch.SnoozedUntil == nil && !ch.UntilReply {
					return fmt.Errorf("%w: snoozedUntil is required to snooze", ErrInvalid)
				}
				until = ch.SnoozedUntil
			}
			if _, err := tx.Exec(ctx, `UPDATE conversations SET status = $2, snoozed_until = $3, updated_at = now() WHERE id = $1`, id, *ch.Status, until); err != nil {
				return err
			}
			data := map[string]any{"from": cur.Status, "to": *ch.Status}
			if until != nil {
				data["until"] = until.UTC().Format(time.RFC3339)
			} else if *ch.Status == "snoozed" {
				data["untilReply"] = true
			}
			if err := event("status", data); err != nil {
				return err
			}
		}
		if ch.AssigneeID != nil && !sameID(*ch.AssigneeID, cur.AssigneeID) {
			if _, err := tx.Exec(ctx, `UPDATE conversations SET assignee_id = $2, updated_at = now() WHERE id = $1`, id, *ch.AssigneeID); err != nil {
				if isForeignKey(err) {
					return fmt.Errorf("%w: no such user", ErrInvalid)
				}
				return err
			}
			if err := event("assigned", map[string]any{"from": cur.AssigneeID, "to": *ch.AssigneeID}); err != nil {
				return err
			}
		}
		if ch.TeamID != nil && !sameID(*ch.TeamID, cur.TeamID) {
			if _, err := tx.Exec(ctx, `UPDATE conversations SET team_id = $2, updated_at = now() WHERE id = $1`, id, *ch.TeamID); err != nil {
				if isForeignKey(err) {
					return fmt.Errorf("%w: no such team", ErrInvalid)
				}
				return err
			}
			if err := event("team", map[string]any{"from": cur.TeamID, "to": *ch.TeamID}); err != nil {
				return err
			}
		}
		if ch.Priority != nil && *ch.Priority != cur.Priority {
			if _, err := tx.Exec(ctx, `UPDATE conversations SET priority = $2, updated_at = now() WHERE id = $1`, id, *ch.Priority); err != nil {
				return err
			}
			if err := event("priority", map[string]any{"from": cur.Priority, "to": *ch.Priority}); err != nil {
				return err
			}
		}
		if len(ch.AddTags) > 0 || len(ch.RemoveTags) > 0 {
			var tags []string
			err := tx.QueryRow(ctx, `UPDATE conversations SET tags = ARRAY(
					SELECT DISTINCT t FROM unnest(tags || coalesce($2::text[], '{}')) t WHERE NOT t = ANY(coalesce($3::text[], '{}')) ORDER BY t),
				updated_at = now() WHERE id = $1 RETURNING tags`, id, ch.AddTags, ch.RemoveTags).Scan(&tags)
			if err != nil {
				return err
			}
			if err := event("tags", map[string]any{"added": ch.AddTags, "removed": ch.RemoveTags}); err != nil {
				return err
			}
		}
		out, err = s.ConversationByID(ctx, tx, id)
		return err
	})
	return out, err
}

func sameTime(a, b *time.Time) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(*b))
}

func sameID(a, b *int64) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// TimelineEvent is a change shown in a conversation's timeline.
type TimelineEvent struct {
	ID      int64           `json:"id"`
	ActorID *int64          `json:"actorId,omitempty"`
	Kind    string          `json:"kind"`
	Data    json.RawMessage `json:"data"`
	At      time.Time       `json:"at"`
}

// Timeline lists a conversation's events, oldest first.
func (s *Store) Timeline(ctx context.Context, conversationID int64) (_ []*TimelineEvent, err error) {
	defer wrap(&err, "Timeline(%d)", conversationID)
	rows, err := s.Pool.Query(ctx, `SELECT id, actor_id, kind, data, at FROM conversation_events WHERE conversation_id = $1 ORDER BY at, id`, conversationID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*TimelineEvent
	for rows.Next() {
		e := &TimelineEvent{}
		if err := rows.Scan(&e.ID, &e.ActorID, &e.Kind, &e.Data, &e.At); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// WakeSnoozed reopens snoozed conversations whose time has come, saying so
// in their timelines. A snooze until the customer replies has no time: the
// reply reopens it.
func (s *Store) WakeSnoozed(ctx context.Context) (_ []int64, err error) {
	defer wrap(&err, "WakeSnoozed")
	rows, err := s.Pool.Query(ctx, `WITH woke AS (
			UPDATE conversations SET status = 'open', snoozed_until = NULL, updated_at = now()
			WHERE status = 'snoozed' AND snoozed_until <= now() RETURNING id),
		ev AS (INSERT INTO conversation_events (conversation_id, kind, data)
			SELECT id, 'status', '{"from": "snoozed", "to": "open", "woke": true}' FROM woke)
		SELECT id FROM woke`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
