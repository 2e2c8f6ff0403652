package store

import (
	"context"
)

// MarkRead records that a member has seen a conversation up to its newest
// message: its incoming messages until then no longer make it unread for
// them. A position never moves back.
func (s *Store) MarkRead(ctx context.Context, userID, conversationID int64) (err error) {
	defer wrap(&err, "MarkRead(%d, %d)", userID, conversationID)
	_, err = s.Pool.Exec(ctx, `INSERT INTO conversation_reads (user_id, conversation_id, message_id)
		SELECT $1, $2, coalesce(max(m.id), 0) FROM messages m WHERE m.conversation_id = $2
		ON CONFLICT (user_id, conversation_id) DO UPDATE SET message_id = greatest(conversation_reads.message_id, EXCLUDED.message_id), read_at = now()
		WHERE conversation_reads.message_id < EXCLUDED.message_id`, userID, conversationID)
	if isForeignKey(err) {
		return ErrNotFound
	}
	return err
}

// ViewCounts are how many conversations each view of the inbox holds for a
// member: Mine, Unassigned and All count open conversations; ByStatus counts
// each status but resolved within each of those views.
type ViewCounts struct {
	Mine, Unassigned, All int64
	// ByStatus[view][status]: view is "mine", "unassigned" or "all".
	ByStatus map[string]map[string]int64
}

// CountViews counts the views for a member in one index-only scan of the
// conversations that are not resolved (conversations_active_idx). Resolved
// ones, most of a large inbox, are not counted.
func (s *Store) CountViews(ctx context.Context, me int64) (_ *ViewCounts, err error) {
	defer wrap(&err, "CountViews(%d)", me)
	rows, err := s.Pool.Query(ctx, `SELECT status, coalesce(assignee_id = $1, false), assignee_id IS NULL, count(*)
		FROM conversations WHERE status <> 'resolved' GROUP BY 1, 2, 3`, me)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := &ViewCounts{ByStatus: map[string]map[string]int64{"mine": {}, "unassigned": {}, "all": {}}}
	for rows.Next() {
		var status string
		var mine, unassigned bool
		var n int64
		if err := rows.Scan(&status, &mine, &unassigned, &n); err != nil {
			return nil, err
		}
		out.ByStatus["all"][status] += n
		if mine {
			out.ByStatus["mine"][status] += n
		}
		if unassigned {
			out.ByStatus["unassigned"][status] += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out.Mine, out.Unassigned, out.All = out.ByStatus["mine"]["open"], out.ByStatus["unassigned"]["open"], out.ByStatus["all"]["open"]
	return out, nil
}
