package store

import (
	"context"
	"errors"
	"fmt"
)

// Incoming is a contact's message for RecordIncoming and InsertIncoming.
type Incoming struct {
	Channel    string
	Identifier string // the contact as the channel names them
	Body       string
	ExternalID string // the sender's message id; "" for none
	// ContactName names a contact RecordIncoming creates; Subject, a
	// conversation it opens.
	ContactName string
	Subject     string
}

// IncomingResult is what RecordIncoming did.
type IncomingResult struct {
	Message      *Message
	Conversation *Conversation
	// Duplicate: the (channel, external id) was taken; Message is the
	// original and nothing changed.
	Duplicate  bool
	NewContact bool
	NewConv    bool
}

// An incoming message's statements record, after choosing its conversation
// (conv), what the inbox's general path records in a statement each: the
// message (InsertMessage); the conversation's bump, which also reopens a
// resolved or snoozed one, and its usage event (InsertMessage); and the
// audit entry (Audit). Keep them in step with those. Their parameters: $1
// channel, $3 body, $4 external id, $5 the usage kind.
//
// A conversation the statement itself opened is not bumped (a statement
// does not see its own rows): it was opened at the message's time. So
// stored holds the conversation as it now is either way.
const incomingTail = `, m AS (
		INSERT INTO messages (conversation_id, channel, direction, body, external_id)
		SELECT id, $1, 'incoming', $3, $4 FROM conv
		%s
		RETURNING ` + msgCols + `
	), bumped AS (
		UPDATE conversations c SET last_message_at = m.created_at, updated_at = now(),
			status = CASE WHEN c.status IN ('resolved', 'snoozed') THEN 'open' ELSE c.status END,
			snoozed_until = CASE WHEN c.status IN ('resolved', 'snoozed') THEN NULL ELSE c.snoozed_until END
		FROM m WHERE c.id = m.conversation_id
		RETURNING c.*
	), stored AS (
		SELECT * FROM bumped UNION ALL SELECT * FROM new_conv
	), usage AS (
		INSERT INTO usage_events (kind, contact_id, conversation_id, message_id, channel)
		SELECT $5, stored.contact_id, stored.id, m.id, m.channel FROM stored, m
	), audit AS (
		INSERT INTO audit_log (actor_kind, action, object_type, object_id)
		SELECT 'system', 'message.received', 'message', m.id::text FROM m
	)`

// incomingStored selects the message, whether the statement created its
// contact and conversation, and the conversation as ConversationByID
// returns it, whose preview is the new message.
const incomingStored = `SELECT false, EXISTS (SELECT FROM new_contact), EXISTS (SELECT FROM new_conv),
		m.id, m.conversation_id, m.channel, m.direction, m.author_id, m.body, m.external_id, m.delivery_status, m.created_at,
		c.id, c.channel, c.contact_id, coalesce(nc.name, ct.name), c.subject, c.status, c.snoozed_until, c.assignee_id, c.team_id,
		c.priority, c.tags, c.last_message_at, c.created_at, left(m.body, 140)
	FROM m JOIN stored c ON c.id = m.conversation_id
	LEFT JOIN contacts ct ON ct.id = c.contact_id LEFT JOIN new_contact nc ON nc.id = c.contact_id`

// An incoming message's own statements (RecordIncoming) start by looking
// up, in the statement's snapshot:
//
//   - original, the message's original: if there is one, nothing changes
//     and the statement selects that;
//   - ident, the contact the channel identifier belongs to;
//   - open, the contact's latest unresolved conversation on the channel,
//     locked (UnresolvedConversation), which serialises the contact's
//     messages as the general path does. One resolved since the snapshot
//     is skipped by the locking read.
const incomingLookup = `WITH original AS (
		SELECT ` + msgCols + ` FROM messages WHERE channel = $1 AND external_id = $4
	), ident AS (
		SELECT contact_id AS id FROM contact_identities WHERE channel = $1 AND identifier = $2
	), open AS (
		SELECT c.id FROM ident JOIN conversations c ON c.contact_id = ident.id
		WHERE c.channel = $1 AND c.status <> 'resolved' AND NOT EXISTS (SELECT FROM original)
		ORDER BY c.last_message_at DESC, c.id DESC LIMIT 1
		FOR UPDATE OF c
	)`

// incomingOriginal selects the original, marked as a duplicate, with its
// conversation as ConversationByID returns it.
const incomingOriginal = `
	UNION ALL
	SELECT true, false, false, o.id, o.conversation_id, o.channel, o.direction, o.author_id, o.body, o.external_id, o.delivery_status, o.created_at,
		` + convCols + `
	FROM original o JOIN conversations c ON c.id = o.conversation_id JOIN contacts ct ON ct.id = c.contact_id`

// appendIncoming stores the message in the open conversation, if there is
// one: most messages. It leaves out what creating a contact and a
// conversation takes, which costs even when it creates nothing.
var appendIncoming = incomingLookup + `, new_contact AS (
		SELECT NULL::bigint AS id, NULL::text AS name WHERE false
	), new_conv AS (
		SELECT * FROM conversations WHERE false
	), conv AS (
		SELECT id FROM open
	)` + fmt.Sprintf(incomingTail, "") + `
	` + incomingStored + incomingOriginal

// recordIncoming also creates what is missing, with parameters $6 contact
// name, $7 emails, $8 phones, $9 subject: new_contact and new_identity the
// contact, when the channel does not know it (ContactForIdentity), new_conv
// a conversation, when the contact has no open one (CreateConversation).
//
// A conflict on the contact's identity or the message's external id, with
// a concurrent statement that committed after this one's snapshot, fails
// the whole statement: nothing is left half done, and a retry finds what
// the other created.
var recordIncoming = incomingLookup + `, new_contact AS (
		INSERT INTO contacts (name, emails, phones)
		SELECT $6, coalesce($7, '{}'::text[]), coalesce($8, '{}'::text[])
		WHERE NOT EXISTS (SELECT FROM ident) AND NOT EXISTS (SELECT FROM original)
		RETURNING id, name
	), new_identity AS (
		INSERT INTO contact_identities (channel, identifier, contact_id) SELECT $1, $2, id FROM new_contact
	), new_conv AS (
		INSERT INTO conversations (channel, contact_id, subject)
		SELECT $1, k.id, $9 FROM (SELECT id FROM ident UNION ALL SELECT id FROM new_contact) k
		WHERE NOT EXISTS (SELECT FROM open) AND NOT EXISTS (SELECT FROM original)
		RETURNING *
	), conv AS (
		SELECT id FROM open UNION ALL SELECT id FROM new_conv
	)` + fmt.Sprintf(incomingTail, "") + `
	` + incomingStored + incomingOriginal

// insertIncoming stores the message in conversation $2; a taken external
// id stores nothing.
var insertIncoming = `WITH conv AS (SELECT $2::bigint AS id),
	new_contact AS (SELECT NULL::bigint AS id, NULL::text AS name WHERE false),
	new_conv AS (SELECT * FROM conversations WHERE false)` +
	fmt.Sprintf(incomingTail, "ON CONFLICT (channel, external_id) WHERE external_id IS NOT NULL DO NOTHING") + `
	` + incomingStored

// RecordIncoming stores a message a contact sent on a channel, with
// everything the inbox's general path (a transaction of
// MessageByExternalID, ContactForIdentity, UnresolvedConversation or
// CreateConversation, InsertMessage, ConversationByID and Audit) records,
// in one statement and so in one round trip: round trips were most of an
// ingest's cost. It continues the contact's latest unresolved conversation
// on the channel, or opens one, creating the contact if the channel does
// not know them. A message whose (channel, external id) is stored already
// is a retry: the result is the original, and nothing changes. A message
// alone into an open conversation, or a retry, takes one statement;
// opening a conversation takes a second.
//
// ErrConflict means a concurrent ingest created the contact or the message
// first: try again.
//
// It does not announce the message: a NOTIFY in the statement would make
// its commit take PostgreSQL's notification queue lock, which serialises
// the commits of all concurrent ingests. Publish the live event after it.
//
// Concurrent calls share statements (see incomingBatcher): under load, a
// message costs a share of a batch's statement, not a statement of its
// own, and a new contact's first message a share of a second one.
func (s *Store) RecordIncoming(ctx context.Context, in Incoming) (_ *IncomingResult, err error) {
	defer wrap(&err, "RecordIncoming(%q)", in.Channel)
	c := &incomingCall{in: in, done: make(chan struct{})}
	s.incoming.enqueue(s, c)
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.incomingAnswered(ctx, c)
}

// incomingAnswered finishes a call its batch answered: it stores what the
// batch left to the call alone.
func (s *Store) incomingAnswered(ctx context.Context, c *incomingCall) (*IncomingResult, error) {
	in := c.in
	switch {
	case c.batchFailed:
		return s.recordIncomingAlone(ctx, in)
	case c.alone:
		// The batch found no open conversation, or a concurrent statement
		// took the external id: recordIncoming does all there is to do.
		name, emails, phones := identityContact(in.Channel, in.Identifier, in.ContactName)
		res, err := scanIncoming(s.Pool.QueryRow(ctx, recordIncoming, in.Channel, in.Identifier, in.Body, externalID(in), UsageMessageReceived,
			name, emails, phones, in.Subject))
		if isUnique(err) {
			return nil, ErrConflict
		}
		return res, err
	}
	return c.res, nil
}

// recordIncomingAlone stores one message with its own statements.
func (s *Store) recordIncomingAlone(ctx context.Context, in Incoming) (*IncomingResult, error) {
	res, err := scanIncoming(s.Pool.QueryRow(ctx, appendIncoming, in.Channel, in.Identifier, in.Body, externalID(in), UsageMessageReceived))
	if errors.Is(err, ErrNotFound) { // no open conversation: open one
		name, emails, phones := identityContact(in.Channel, in.Identifier, in.ContactName)
		res, err = scanIncoming(s.Pool.QueryRow(ctx, recordIncoming, in.Channel, in.Identifier, in.Body, externalID(in), UsageMessageReceived,
			name, emails, phones, in.Subject))
	}
	if isUnique(err) {
		return nil, ErrConflict
	}
	return res, err
}

// InsertIncoming stores a message in a conversation of the channel, in q's
// transaction, with everything RecordIncoming records; an incoming message
// reopens a resolved or snoozed conversation. A message whose (channel,
// external id) is stored already gives ErrConflict and changes nothing.
func (s *Store) InsertIncoming(ctx context.Context, q Querier, conversationID int64, in Incoming) (_ *Message, _ *Conversation, err error) {
	defer wrap(&err, "InsertIncoming(%d)", conversationID)
	res, err := scanIncoming(q.QueryRow(ctx, insertIncoming, in.Channel, conversationID, in.Body, externalID(in), UsageMessageReceived))
	if err == ErrNotFound {
		return nil, nil, ErrConflict
	}
	if err != nil {
		return nil, nil, err
	}
	return res.Message, res.Conversation, nil
}

func externalID(in Incoming) *string {
	if in.ExternalID == "" {
		return nil
	}
	return &in.ExternalID
}

func scanIncoming(row interface{ Scan(...any) error }) (*IncomingResult, error) {
	m, c := &Message{}, &Conversation{}
	res := &IncomingResult{Message: m, Conversation: c}
	err := row.Scan(&res.Duplicate, &res.NewContact, &res.NewConv,
		&m.ID, &m.ConversationID, &m.Channel, &m.Direction, &m.AuthorID, &m.Body, &m.ExternalID, &m.DeliveryStatus, &m.CreatedAt,
		&c.ID, &c.Channel, &c.ContactID, &c.ContactName, &c.Subject, &c.Status, &c.SnoozedUntil, &c.AssigneeID, &c.TeamID,
		&c.Priority, &c.Tags, &c.LastMessageAt, &c.CreatedAt, &c.Preview)
	if err != nil {
		return nil, notFound(err)
	}
	return res, nil
}
