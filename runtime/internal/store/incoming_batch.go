package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Concurrent RecordIncoming calls are stored together, a batch per
// statement (group commit): while a batch is in the database, the messages
// that arrive wait and go in the next one. Per message, a statement and
// its transaction cost PostgreSQL more than the rows it writes (planning,
// opening the indexes of five tables, the commit, the round trip), so a
// batch of 20 costs little more than a message alone.
//
// A batch stores only what is cheap to do for many messages at once: a
// message into its contact's open conversation (most messages), or the
// answer to a retry. Whatever else a message needs (a new contact, a new
// conversation, an external id that a concurrent batch took first) it
// gets from recordIncoming, in its caller's goroutine, exactly as without
// batching. If a batch's statement fails, each of its messages is stored
// on its own, so that one bad message fails alone.
var (
	// incomingFlushers is how many batches may be in the database at once.
	incomingFlushers = 2
	// incomingBacklog is how many messages must wait for a batch to start
	// another beside the one in the database. Without a backlog the
	// messages that arrive while a batch is stored go in the next: in the
	// webhook bench (bench/runtime), starting a second batch at once made
	// batches half as big and cost PostgreSQL 70% more CPU per message.
	incomingBacklog = 8
	// incomingBatchMax bounds a batch, and so the wait of its first message.
	incomingBatchMax = 64
)

// incomingBatchTimeout bounds one batch's statement. A caller that gives up
// earlier (its ctx ends) gets its ctx's error; the batch goes on.
const incomingBatchTimeout = 30 * time.Second

// incomingBatcher gathers concurrent RecordIncoming calls. Its zero value
// is ready.
type incomingBatcher struct {
	mu       sync.Mutex
	pending  []*incomingCall
	flushing int

	stats incomingStats
}

// incomingStats count what became of RecordIncoming calls.
type incomingStats struct {
	statements atomic.Int64 // batch statements run, failed or not
	batched    atomic.Int64 // messages a batch stored or found stored
	alone      atomic.Int64 // messages left to recordIncoming or, after a failed batch, recordIncomingAlone
	failed     atomic.Int64 // batch statements that failed
}

// incomingCall is one RecordIncoming waiting for its batch.
type incomingCall struct {
	in  Incoming
	res *IncomingResult
	err error
	// alone: the batch did not store the message; the caller stores it
	// with recordIncoming (after a failed batch, with the whole single path).
	alone, batchFailed bool
	// requeued: the call shared its external id with an earlier call of
	// its batch and waited for the next batch, which finds that one's
	// message as the original.
	requeued bool
	done     chan struct{}
}

// enqueue adds c to the next batch, starting a flusher if fewer than
// incomingFlushers are at work.
func (b *incomingBatcher) enqueue(s *Store, c ...*incomingCall) {
	b.mu.Lock()
	b.pending = append(b.pending, c...)
	// A flusher beyond the first starts only for a backlog, so that
	// batches stay big.
	start := b.flushing == 0 || b.flushing < incomingFlushers && len(b.pending) >= incomingBacklog
	if start {
		b.flushing++
	}
	b.mu.Unlock()
	if start {
		go b.flush(s)
	}
}

// flush stores batches until none is pending.
func (b *incomingBatcher) flush(s *Store) {
	for {
		b.mu.Lock()
		n := min(len(b.pending), incomingBatchMax)
		if n == 0 {
			b.flushing--
			b.mu.Unlock()
			return
		}
		batch := make([]*incomingCall, n)
		copy(batch, b.pending)
		b.pending = append(b.pending[:0], b.pending[n:]...)
		b.mu.Unlock()
		if later := s.recordBatch(batch); len(later) > 0 {
			b.mu.Lock()
			b.pending = append(later, b.pending...)
			b.mu.Unlock()
		}
	}
}

// recordBatch stores a batch in one statement and answers its calls. It
// returns the calls it held back for the next batch: a second delivery of
// an external id within the batch, which the next batch's statement finds
// stored, as the original.
func (s *Store) recordBatch(batch []*incomingCall) (later []*incomingCall) {
	type key struct{ channel, externalID string }
	seen := make(map[key]bool, len(batch))
	calls := batch[:0:0]
	for _, c := range batch {
		if c.in.ExternalID != "" {
			k := key{c.in.Channel, c.in.ExternalID}
			if seen[k] {
				if c.requeued {
					c.alone = true
					s.incoming.stats.alone.Add(1)
					close(c.done)
				} else {
					c.requeued = true
					later = append(later, c)
				}
				continue
			}
			seen[k] = true
		}
		calls = append(calls, c)
	}
	if len(calls) == 0 {
		return later
	}
	ctx, cancel := context.WithTimeout(context.Background(), incomingBatchTimeout)
	defer cancel()
	err := s.storeBatch(ctx, calls, false)
	if err == nil {
		// What is left are mostly new contacts' first messages.
		var fresh []*incomingCall
		for _, c := range calls {
			if c.res == nil {
				fresh = append(fresh, c)
			}
		}
		// One alone is what recordIncoming does, in its caller's goroutine.
		if len(fresh) > 1 {
			if err := s.storeBatch(ctx, fresh, true); err != nil {
				for _, c := range fresh {
					c.res, c.alone, c.batchFailed = nil, true, true
				}
			}
		}
	} else {
		for _, c := range calls {
			c.res, c.batchFailed = nil, true
		}
	}
	for _, c := range calls {
		if c.res == nil {
			c.alone = true
			s.incoming.stats.alone.Add(1)
		}
		close(c.done)
	}
	return later
}

// storeBatch runs recordIncomingBatch, or with create
// createIncomingBatch, for calls, and sets the result of each call whose
// message it stored or found stored.
func (s *Store) storeBatch(ctx context.Context, calls []*incomingCall, create bool) error {
	n := len(calls)
	if n == 1 && !create {
		// A message alone (no load) takes the statement it took before
		// batching, which is smaller.
		s.incoming.stats.statements.Add(1)
		in := calls[0].in
		res, err := scanIncoming(s.Pool.QueryRow(ctx, appendIncoming, in.Channel, in.Identifier, in.Body, externalID(in), UsageMessageReceived))
		switch {
		case err == nil:
			calls[0].res = res
			s.incoming.stats.batched.Add(1)
		case errors.Is(err, ErrNotFound), isUnique(err):
			// No open conversation, or a concurrent statement stored the
			// message first: recordIncoming does what is left.
		default:
			s.incoming.stats.failed.Add(1)
			return err
		}
		return nil
	}
	channels, identifiers, bodies, externalIDs := make([]string, n), make([]string, n), make([]string, n), make([]*string, n)
	for i, c := range calls {
		channels[i], identifiers[i], bodies[i], externalIDs[i] = c.in.Channel, c.in.Identifier, c.in.Body, externalID(c.in)
	}
	sql, args := recordIncomingBatch, []any{channels, identifiers, bodies, externalIDs, UsageMessageReceived}
	if create {
		names, emails, phones, subjects := make([]string, n), make([]*string, n), make([]*string, n), make([]string, n)
		for i, c := range calls {
			name, e, p := identityContact(c.in.Channel, c.in.Identifier, c.in.ContactName)
			names[i], subjects[i] = name, c.in.Subject
			if len(e) > 0 {
				emails[i] = &e[0]
			}
			if len(p) > 0 {
				phones[i] = &p[0]
			}
		}
		sql, args = createIncomingBatch, append(args, names, emails, phones, subjects)
	}
	s.incoming.stats.statements.Add(1)
	rows, err := s.Pool.Query(ctx, sql, args...)
	if err != nil {
		s.incoming.stats.failed.Add(1)
		return err
	}
	defer rows.Close()
	results := make([]*IncomingResult, n)
	for rows.Next() {
		var ord int
		m, c := &Message{}, &Conversation{}
		res := &IncomingResult{Message: m, Conversation: c}
		if err := rows.Scan(&ord, &res.Duplicate, &res.NewContact, &res.NewConv,
			&m.ID, &m.ConversationID, &m.Channel, &m.Direction, &m.AuthorID, &m.Body, &m.ExternalID, &m.DeliveryStatus, &m.CreatedAt,
			&c.ID, &c.Channel, &c.ContactID, &c.ContactName, &c.Subject, &c.Status, &c.SnoozedUntil, &c.AssigneeID, &c.TeamID,
			&c.Priority, &c.Tags, &c.LastMessageAt, &c.CreatedAt, &c.Preview); err != nil {
			s.incoming.stats.failed.Add(1)
			return err
		}
		if ord >= 1 && ord <= n {
			results[ord-1] = res
		}
	}
	if err := rows.Err(); err != nil {
		s.incoming.stats.failed.Add(1)
		return err
	}
	for i, c := range calls {
		if c.res = results[i]; c.res != nil {
			s.incoming.stats.batched.Add(1)
		}
	}
	return nil
}

// batchInput starts both batch statements: the messages, numbered by
// their place in the arrays (ord), and each retry's original, found in the
// statement's snapshot as in incomingLookup.
//
// The batch statements look rows up with LATERAL ... LIMIT 1 and = ANY:
// for a few dozen messages a lookup by index each is cheapest, and a
// planner that sees small tables (or guesses the arrays' length) would
// rather scan a table whole and hash it.
const batchInput = `WITH input AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS i (channel, identifier, body, external_id, ord)
	), original AS (
		SELECT i.ord, o.* FROM input i, LATERAL (
			SELECT ` + msgCols + ` FROM messages WHERE channel = i.channel AND external_id = i.external_id LIMIT 1) o
	)`

// batchStored records the messages of item, as incomingTail does: m the
// messages, whose ids item chose so that each row finds its caller (a
// message whose external id a concurrent statement took is left out);
// bumped the conversations (one bump each, however many of the batch's
// messages they get); usage the usage events and audit the audit entries.
// A conversation the statement opened (new_conv) is not bumped: it was
// opened at its messages' time.
const batchStored = `, m AS (
		INSERT INTO messages (id, conversation_id, channel, direction, body, external_id) OVERRIDING SYSTEM VALUE
		SELECT id, conversation_id, channel, 'incoming', body, external_id FROM item ORDER BY id
		ON CONFLICT (channel, external_id) WHERE external_id IS NOT NULL DO NOTHING
		RETURNING ` + msgCols + `
	), bumped AS (
		UPDATE conversations c SET last_message_at = b.at, updated_at = now(),
			status = CASE WHEN c.status IN ('resolved', 'snoozed') THEN 'open' ELSE c.status END,
			snoozed_until = CASE WHEN c.status IN ('resolved', 'snoozed') THEN NULL ELSE c.snoozed_until END
		FROM (SELECT conversation_id, max(created_at) AS at FROM m GROUP BY conversation_id) b
		WHERE c.id = b.conversation_id
		RETURNING c.*
	), stored AS (
		SELECT * FROM bumped UNION ALL SELECT * FROM new_conv
	), usage AS (
		INSERT INTO usage_events (kind, contact_id, conversation_id, message_id, channel)
		SELECT $5, c.contact_id, c.id, m.id, m.channel FROM m JOIN stored c ON c.id = m.conversation_id ORDER BY m.id
	), audit AS (
		INSERT INTO audit_log (actor_kind, action, object_type, object_id)
		SELECT 'system', 'message.received', 'message', m.id::text FROM m ORDER BY m.id
	)
	SELECT item.ord, false, item.new_contact, item.new_conv,
		m.id, m.conversation_id, m.channel, m.direction, m.author_id, m.body, m.external_id, m.delivery_status, m.created_at,
		c.id, c.channel, c.contact_id, ct.name, c.subject, c.status, c.snoozed_until, c.assignee_id, c.team_id,
		c.priority, c.tags, c.last_message_at, c.created_at, left(m.body, 140)
	FROM m JOIN item ON item.id = m.id JOIN stored c ON c.id = m.conversation_id, LATERAL (
		SELECT name FROM contacts WHERE id = c.contact_id UNION ALL SELECT name FROM new_contact WHERE id = c.contact_id LIMIT 1) ct
	UNION ALL
	SELECT o.ord, true, false, false, o.id, o.conversation_id, o.channel, o.direction, o.author_id, o.body, o.external_id, o.delivery_status, o.created_at,
		` + convCols + `
	FROM original o, LATERAL (SELECT * FROM conversations WHERE id = o.conversation_id LIMIT 1) c, LATERAL (
		SELECT name FROM contacts WHERE id = c.contact_id LIMIT 1) ct`

// recordIncomingBatch is what appendIncoming does, for many messages at
// once. Its parameters: $1 channels, $2 identifiers, $3 bodies, $4
// external ids (NULL for none), one element per message; $5 the usage
// kind. It selects, for each message it stored or found stored (by ord),
// whether it was a retry, whether it created the contact or the
// conversation (never), the message and its conversation as RecordIncoming
// returns them. A message it selects nothing for needs what it does not
// do: a new contact, a new conversation, or its external id was taken by
// a concurrent statement.
//
// open is each contact's latest unresolved conversation on the channel
// (latest), locked in id order so that concurrent batches cannot deadlock. One
// resolved since the snapshot is skipped by the locking read (its message
// goes alone, and opens a new conversation).
//
// Messages of one batch share the transaction's time, as created_at and as
// their conversation's last_message_at; each one's preview is its own body.
const recordIncomingBatch = batchInput + `, ident AS (
		SELECT i.ord, i.channel, ci.contact_id FROM input i, LATERAL (
			SELECT contact_id FROM contact_identities WHERE channel = i.channel AND identifier = i.identifier LIMIT 1) ci
		WHERE NOT EXISTS (SELECT FROM original o WHERE o.ord = i.ord)
	), latest AS MATERIALIZED (
		SELECT (SELECT l.id FROM conversations l
			WHERE l.contact_id = k.contact_id AND l.channel = k.channel AND l.status <> 'resolved'
			ORDER BY l.last_message_at DESC, l.id DESC LIMIT 1) AS id
		FROM (SELECT DISTINCT channel, contact_id FROM ident) k
	), open AS (
		SELECT c.* FROM (SELECT id FROM latest WHERE id IS NOT NULL ORDER BY id) l, LATERAL (
			SELECT c.id, c.contact_id, c.channel FROM conversations c WHERE c.id = l.id AND c.status <> 'resolved'
			FOR UPDATE) c
	), new_contact AS (
		SELECT NULL::bigint AS id, NULL::text AS name WHERE false
	), new_conv AS (
		SELECT * FROM conversations WHERE false
	), item AS (
		SELECT nextval(pg_get_serial_sequence('messages', 'id')) AS id, false AS new_contact, false AS new_conv, s.* FROM (
			SELECT i.ord, i.channel, i.body, i.external_id, o.id AS conversation_id
			FROM input i JOIN ident d ON d.ord = i.ord JOIN open o ON o.contact_id = d.contact_id AND o.channel = i.channel
			ORDER BY i.ord) s
	)` + batchStored

// createIncomingBatch stores the first messages of contacts the channel
// does not know yet: for each new (channel, identifier), the contact, its
// identity and a conversation, as recordIncoming does, with all of the
// batch's messages from it. It takes recordIncomingBatch's parameters and
// $6 names, $7 emails, $8 phones (NULL for none), $9 subjects; the
// contact's fields and the conversation's subject come from its first
// message in the batch, which is the one that reports creating them. An
// identity a concurrent statement created first is left out (ON CONFLICT
// waits for it to commit; identities are inserted in one order, so that
// two batches cannot wait for each other), and so are the messages of a
// contact the channel knows: they go alone.
const createIncomingBatch = batchInput + `, fresh AS (
		SELECT DISTINCT ON (i.channel, i.identifier) i.channel, i.identifier, i.ord, f.name, f.email, f.phone, f.subject
		FROM input i JOIN unnest($6::text[], $7::text[], $8::text[], $9::text[]) WITH ORDINALITY AS f (name, email, phone, subject, ord) ON f.ord = i.ord
		LEFT JOIN LATERAL (
			SELECT true AS known FROM contact_identities ci WHERE ci.channel = i.channel AND ci.identifier = i.identifier LIMIT 1) k ON true
		WHERE k.known IS NULL AND NOT EXISTS (SELECT FROM original o WHERE o.ord = i.ord)
		ORDER BY i.channel, i.identifier, i.ord
	), new_identity AS (
		INSERT INTO contact_identities (channel, identifier, contact_id)
		SELECT channel, identifier, nextval(pg_get_serial_sequence('contacts', 'id')) FROM fresh ORDER BY channel, identifier
		ON CONFLICT DO NOTHING
		RETURNING channel, identifier, contact_id
	), created AS (
		SELECT f.*, n.contact_id, nextval(pg_get_serial_sequence('conversations', 'id')) AS conversation_id
		FROM new_identity n JOIN fresh f ON f.channel = n.channel AND f.identifier = n.identifier
	), new_contact AS (
		INSERT INTO contacts (id, name, emails, phones) OVERRIDING SYSTEM VALUE
		SELECT contact_id, name, CASE WHEN email IS NULL THEN '{}' ELSE ARRAY[email] END, CASE WHEN phone IS NULL THEN '{}' ELSE ARRAY[phone] END
		FROM created ORDER BY ord
		RETURNING id, name
	), new_conv AS (
		INSERT INTO conversations (id, channel, contact_id, subject) OVERRIDING SYSTEM VALUE
		SELECT conversation_id, channel, contact_id, subject FROM created ORDER BY ord
		RETURNING *
	), item AS (
		SELECT nextval(pg_get_serial_sequence('messages', 'id')) AS id, s.ord = s.first AS new_contact, s.ord = s.first AS new_conv, s.* FROM (
			SELECT i.ord, i.channel, i.body, i.external_id, c.conversation_id, c.ord AS first
			FROM input i JOIN created c ON c.channel = i.channel AND c.identifier = i.identifier
			WHERE NOT EXISTS (SELECT FROM original o WHERE o.ord = i.ord)
			ORDER BY i.ord) s
	)` + batchStored
