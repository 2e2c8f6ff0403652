package retention

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// convExpired is the SQL condition of a conversation (alias c) whose last
// activity is before $cut and whose contact's processing is not restricted.
func convExpired(cut string) string {
	return fmt.Sprintf(`c.last_message_at < %[1]s AND c.updated_at < %[1]s
		AND NOT EXISTS (SELECT 1 FROM contacts r WHERE r.id = c.contact_id AND r.processing_restricted)`, cut)
}

// contactActivity is the SQL of a contact's (alias ct) last activity; see
// the contacts category's Doc.
const contactActivity = `greatest(ct.updated_at, ct.purged_activity_at,
	(SELECT max(greatest(v.last_message_at, v.updated_at)) FROM conversations v WHERE v.contact_id = ct.id),
	(SELECT max(n.created_at) FROM notes n WHERE n.contact_id = ct.id),
	(SELECT max(d.updated_at) FROM deals d WHERE d.contact_id = ct.id))`

// contactExpired is the SQL condition of a contact (alias ct) inactive
// since $cut and not restricted.
func contactExpired(cut string) string {
	return fmt.Sprintf(`NOT ct.processing_restricted AND %s < %s`, contactActivity, cut)
}

// conversations deletes or anonymises expired conversations. A batch takes
// up to BatchSize of them, oldest activity first, and up to BatchSize of
// their messages; the conversations themselves go (or are anonymised) in
// the batch that finds no message of theirs left, so a long conversation
// takes several batches, each re-taking and re-checking the same
// conversations under lock.
func (e *enforcer) conversations(ctx context.Context, cut time.Time, act Action) error {
	cond := convExpired("$1")
	if act == Anonymize {
		cond += " AND c.anonymized_at IS NULL"
	}
	first := `SELECT c.id, c.last_message_at FROM conversations c WHERE ` + cond + `
		AND (c.last_message_at, c.id) > ($2, $3) ORDER BY c.last_message_at, c.id LIMIT $4 FOR UPDATE OF c SKIP LOCKED`
	again := `SELECT c.id FROM conversations c WHERE ` + cond + ` AND c.id = ANY($2) FOR UPDATE OF c SKIP LOCKED`
	var (
		set      []int64 // the conversations under way
		setAt    time.Time
		setID    int64
		msgAfter int64
		curAt    time.Time
		curID    int64
	)
	for {
		var done bool
		// What the batch decides takes effect once it has committed.
		nSet, nSetAt, nSetID, nMsgAfter, nCurAt, nCurID := set, setAt, setID, msgAfter, curAt, curID
		err := e.batch(ctx, func(tx pgx.Tx, t *tally) error {
			nSet, nSetAt, nSetID, nMsgAfter, nCurAt, nCurID = set, setAt, setID, msgAfter, curAt, curID
			var err error
			if nSet == nil {
				nSet, nSetAt, nSetID, err = firstConversations(ctx, tx, first, cut, curAt, curID, e.n)
				if err != nil {
					return err
				}
				if len(nSet) == 0 {
					done = true
					return nil
				}
				nMsgAfter = 0
			} else if nSet, err = ids(ctx, tx, again, cut, nSet); err != nil {
				return fmt.Errorf("locking conversations: %w", err)
			}
			last, full, err := e.messages(ctx, tx, nSet, nMsgAfter, act, t)
			if err != nil || full {
				nMsgAfter = last
				return err
			}
			if err := e.finishConversations(ctx, tx, nSet, act, t); err != nil {
				return err
			}
			nSet, nCurAt, nCurID = nil, nSetAt, nSetID
			return nil
		})
		if err != nil || done {
			return err
		}
		set, setAt, setID, msgAfter, curAt, curID = nSet, nSetAt, nSetID, nMsgAfter, nCurAt, nCurID
	}
}

// firstConversations takes the next conversations after the cursor, and
// returns them with the key of the last.
func firstConversations(ctx context.Context, tx pgx.Tx, q string, cut, at time.Time, id int64, n int) ([]int64, time.Time, int64, error) {
	rows, err := tx.Query(ctx, q, cut, at, id, n)
	if err != nil {
		return nil, at, id, fmt.Errorf("choosing conversations: %w", err)
	}
	defer rows.Close()
	out := []int64{}
	for rows.Next() {
		var cid int64
		var cat time.Time
		if err := rows.Scan(&cid, &cat); err != nil {
			return nil, at, id, err
		}
		out = append(out, cid)
		if cat.After(at) || cat.Equal(at) && cid > id {
			at, id = cat, cid
		}
	}
	if err := rows.Err(); err != nil {
		return nil, at, id, fmt.Errorf("choosing conversations: %w", err)
	}
	return out, at, id, nil
}

// ids runs a query of ids.
func ids(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]int64, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if out == nil {
		out = []int64{}
	}
	return out, err
}

// messages deletes or anonymises up to BatchSize messages of convs with ids
// above after, with their attachments, delivery events and queued
// webhooks. full says there may be more; last is the last message taken.
func (e *enforcer) messages(ctx context.Context, tx pgx.Tx, convs []int64, after int64, act Action, t *tally) (last int64, full bool, err error) {
	if len(convs) == 0 {
		return after, false, nil
	}
	size := e.n
	msgs, err := ids(ctx, tx, `SELECT id FROM messages WHERE conversation_id = ANY($1) AND id > $2 ORDER BY id LIMIT $3`,
		convs, after, size)
	if err != nil {
		return after, false, fmt.Errorf("choosing messages: %w", err)
	}
	if len(msgs) == 0 {
		return after, false, nil
	}
	last, full = msgs[len(msgs)-1], len(msgs) == size
	// Queued webhooks go under either action: they are copies of the body.
	tag, err := tx.Exec(ctx, `DELETE FROM outbox WHERE message_id = ANY($1)`, msgs)
	if err != nil {
		return after, false, fmt.Errorf("deleting queued webhooks: %w", err)
	}
	t.del("outbox", tag)
	// So do emails' threading headers: they name the sender.
	tag, err = tx.Exec(ctx, `DELETE FROM email_messages WHERE message_id = ANY($1)`, msgs)
	if err != nil {
		return after, false, fmt.Errorf("deleting email headers: %w", err)
	}
	t.del("email_messages", tag)
	// And members' notifications of them (mentions in notes).
	tag, err = tx.Exec(ctx, `DELETE FROM notifications WHERE message_id = ANY($1)`, msgs)
	if err != nil {
		return after, false, fmt.Errorf("deleting notifications: %w", err)
	}
	t.del("notifications", tag)
	if act == Delete {
		for _, table := range []string{"attachments", "delivery_events"} {
			tag, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE message_id = ANY($1)`, msgs)
			if err != nil {
				return after, false, fmt.Errorf("deleting %s: %w", table, err)
			}
			t.del(table, tag)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM messages WHERE id = ANY($1)`, msgs)
		if err != nil {
			return after, false, fmt.Errorf("deleting messages: %w", err)
		}
		t.del("messages", tag)
		return last, full, nil
	}
	for _, x := range []struct {
		table Table
		match string
	}{{attachmentsTable, "message_id"}, {deliveryEventsTable, "message_id"}, {messagesTable, "id"}} {
		q, a := anonymizeSQL(x.table, x.match, msgs, e.pads, e.now)
		tag, err := tx.Exec(ctx, q, a...)
		if err != nil {
			return after, false, fmt.Errorf("anonymising %s: %w", x.table.Name, err)
		}
		t.anon(x.table.Name, tag)
	}
	return last, full, nil
}

// finishConversations deletes or anonymises conversations whose messages
// are done. Their last activity first goes to their contact
// (purged_activity_at), so that the contact's own age is unchanged.
func (e *enforcer) finishConversations(ctx context.Context, tx pgx.Tx, convs []int64, act Action, t *tally) error {
	if len(convs) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE contacts ct SET purged_activity_at = greatest(ct.purged_activity_at, x.at)
		FROM (SELECT contact_id, max(greatest(last_message_at, updated_at)) AS at FROM conversations
			WHERE id = ANY($1) AND contact_id IS NOT NULL GROUP BY contact_id) x
		WHERE ct.id = x.contact_id AND ct.purged_activity_at IS DISTINCT FROM greatest(ct.purged_activity_at, x.at)`, convs); err != nil {
		return fmt.Errorf("keeping their contacts' activity: %w", err)
	}
	// Notifications of the conversation that name no message (none yet).
	tag, err := tx.Exec(ctx, `DELETE FROM notifications WHERE conversation_id = ANY($1)`, convs)
	if err != nil {
		return fmt.Errorf("deleting notifications: %w", err)
	}
	t.del("notifications", tag)
	if act == Anonymize {
		q, a := anonymizeSQL(conversationsTable, "id", convs, e.pads, e.now)
		tag, err := tx.Exec(ctx, q, a...)
		if err != nil {
			return fmt.Errorf("anonymising conversations: %w", err)
		}
		t.anon("conversations", tag)
		return nil
	}
	tag, err = tx.Exec(ctx, `DELETE FROM conversation_events WHERE conversation_id = ANY($1)`, convs)
	if err != nil {
		return fmt.Errorf("deleting conversation events: %w", err)
	}
	t.del("conversation_events", tag)
	if tag, err = tx.Exec(ctx, `DELETE FROM conversations WHERE id = ANY($1)`, convs); err != nil {
		return fmt.Errorf("deleting conversations: %w", err)
	}
	t.del("conversations", tag)
	return nil
}

// contacts deletes or anonymises contacts inactive since cut, with their
// conversations. Candidates are found first without locks, a slice of the
// contacts at a time (their age is computed, not indexed); each batch then
// locks up to BatchSize of them, checks their age again, and works through
// their conversations' messages as the conversations category does, then
// (Delete) unlinks their usage events, and finally deletes or anonymises
// them.
func (e *enforcer) contacts(ctx context.Context, cut time.Time, act Action) error {
	cond := contactExpired("$1")
	if act == Anonymize {
		cond += " AND ct.anonymized_at IS NULL"
	}
	var after int64
	for {
		// Ten batches' worth of contacts per look, without locks.
		cand, err := e.candidates(ctx, `SELECT ct.id FROM contacts ct WHERE ct.id > $2 AND `+cond+` ORDER BY ct.id LIMIT $3`,
			cut, after, 10*e.opts.BatchSize)
		if err != nil || len(cand) == 0 {
			return err
		}
		after = cand[len(cand)-1]
		for len(cand) > 0 {
			n := min(len(cand), e.n)
			if err := e.contactSet(ctx, cond, cut, cand[:n], act); err != nil {
				return err
			}
			cand = cand[n:]
		}
	}
}

func (e *enforcer) candidates(ctx context.Context, q string, args ...any) ([]int64, error) {
	tx, err := e.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT set_config('statement_timeout', $1, true)`, fmt.Sprintf("%dms", 10*e.opts.StatementTimeout.Milliseconds())); err != nil {
		return nil, err
	}
	out, err := ids(ctx, tx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("finding inactive contacts: %w", err)
	}
	return out, tx.Commit(ctx)
}

// contactSet works through one set of candidate contacts, over as many
// batches as their messages and usage events take.
func (e *enforcer) contactSet(ctx context.Context, cond string, cut time.Time, cand []int64, act Action) error {
	lock := `SELECT ct.id FROM contacts ct WHERE ct.id = ANY($2) AND ` + cond + ` ORDER BY ct.id FOR UPDATE OF ct SKIP LOCKED`
	var msgAfter int64
	for {
		var done bool
		nMsgAfter := msgAfter
		err := e.batch(ctx, func(tx pgx.Tx, t *tally) error {
			nMsgAfter = msgAfter
			set, err := ids(ctx, tx, lock, cut, cand)
			if err != nil {
				return fmt.Errorf("locking contacts: %w", err)
			}
			if len(set) == 0 {
				done = true
				return nil
			}
			// Waits at most lock_timeout for a conversation in use.
			convs, err := ids(ctx, tx, `SELECT id FROM conversations WHERE contact_id = ANY($1) ORDER BY id FOR UPDATE`, set)
			if err != nil {
				return fmt.Errorf("locking their conversations: %w", err)
			}
			last, full, err := e.messages(ctx, tx, convs, msgAfter, act, t)
			if err != nil || full {
				nMsgAfter = last
				return err
			}
			if act == Delete {
				size := e.n
				tag, err := tx.Exec(ctx, `UPDATE usage_events SET contact_id = NULL WHERE id IN (
					SELECT id FROM usage_events WHERE contact_id = ANY($1) LIMIT $2 FOR UPDATE)`, set, size)
				if err != nil {
					return fmt.Errorf("unlinking usage events: %w", err)
				}
				t.anon("usage_events.contact_id", tag)
				if tag.RowsAffected() == int64(size) {
					return nil // more next batch
				}
			}
			if err := e.finishConversations(ctx, tx, convs, act, t); err != nil {
				return err
			}
			for _, table := range []string{"notes", "contact_identities"} {
				tag, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE contact_id = ANY($1)`, set)
				if err != nil {
					return fmt.Errorf("deleting %s: %w", table, err)
				}
				t.del(table, tag)
			}
			done = true
			if act == Anonymize {
				s, _ := spec(Contacts)
				ct, _ := s.Table("contacts")
				q, a := anonymizeSQL(ct, "id", set, e.pads, e.now)
				tag, err := tx.Exec(ctx, q, a...)
				if err != nil {
					return fmt.Errorf("anonymising contacts: %w", err)
				}
				t.anon("contacts", tag)
				return nil
			}
			tag, err := tx.Exec(ctx, `UPDATE deals SET contact_id = NULL, updated_at = now() WHERE contact_id = ANY($1)`, set)
			if err != nil {
				return fmt.Errorf("unlinking deals: %w", err)
			}
			t.anon("deals.contact_id", tag)
			if tag, err = tx.Exec(ctx, `DELETE FROM contacts WHERE id = ANY($1)`, set); err != nil {
				return fmt.Errorf("deleting contacts: %w", err)
			}
			t.del("contacts", tag)
			return nil
		})
		if err != nil || done {
			return err
		}
		msgAfter = nMsgAfter
	}
}
