package store

import "context"

// Incoming is a contact's message for RecordIncoming and InsertIncoming.
type Incoming struct {
	Channel    string
	Identifier string // the contact as the channel names them
	Body       string
	ExternalID string // the sender's message id; "" for none
}

// Statements of incoming messages. A conv CTE chooses the conversation;
// incomingTail then records, in order, what the inbox's general path used
// to record in a statement each: the message, unless its (channel,
// external id) is taken, when nothing else happens (InsertMessage's ON
// CONFLICT); the conversation's bump, which also reopens a resolved or
// snoozed one, and its usage event (InsertMessage); and the audit entry
// (Audit). Keep them in step with those. Parameters: $1 channel, $3 body,
// $4 external id, $5 the usage kind.
const incomingTail = `, m AS (
		INSERT INTO messages (conversation_id, channel, direction, body, external_id)
		SELECT id, $1, 'incoming', $3, $4 FROM conv
		ON CONFLICT (channel, external_id) WHERE external_id IS NOT NULL DO NOTHING
		RETURNING ` + msgCols + `
	), bumped AS (
		UPDATE conversations c SET last_message_at = m.created_at, updated_at = now(),
			status = CASE WHEN c.status IN ('resolved', 'snoozed') THEN 'open' ELSE c.status END,
			snoozed_until = CASE WHEN c.status IN ('resolved', 'snoozed') THEN NULL ELSE c.snoozed_until END
		FROM m WHERE c.id = m.conversation_id
		RETURNING c.*
	), usage AS (
		INSERT INTO usage_events (kind, contact_id, conversation_id, message_id, channel)
		SELECT $5, bumped.contact_id, bumped.id, m.id, m.channel FROM bumped, m
	), audit AS (
		INSERT INTO audit_log (actor_kind, action, object_type, object_id)
		SELECT 'system', 'message.received', 'message', m.id::text FROM m
	)`

// incomingStored selects the stored message and its conversation as
// ConversationByID returns it, whose preview is the new message.
const incomingStored = `SELECT false, m.id, m.conversation_id, m.channel, m.direction, m.author_id, m.body, m.external_id, m.delivery_status, m.created_at,
		c.id, c.channel, c.contact_id, ct.name, c.subject, c.status, c.snoozed_until, c.assignee_id, c.team_id,
		c.priority, c.tags, c.last_message_at, c.created_at, left(m.body, 140)
	FROM m JOIN bumped c ON c.id = m.conversation_id JOIN contacts ct ON ct.id = c.contact_id`

// recordIncoming chooses the contact's latest unresolved conversation on
// the channel, locked (UnresolvedConversation), which serialises the
// contact's messages as the general path does; if it was resolved after
// the statement's snapshot, the locking read skips it and nothing is
// stored. When nothing was stored and the statement's snapshot holds a
// message of the same (channel, external id), it selects that one, marked
// as a duplicate.
const recordIncoming = `WITH conv AS (
		SELECT c.id FROM contact_identities i JOIN conversations c ON c.contact_id = i.contact_id
		WHERE i.channel = $1 AND i.identifier = $2 AND c.channel = $1 AND c.status <> 'resolved'
		ORDER BY c.last_message_at DESC, c.id DESC LIMIT 1
		FOR UPDATE OF c
	)` + incomingTail + `, original AS (
		SELECT ` + msgCols + ` FROM messages
		WHERE channel = $1 AND external_id = $4 AND NOT EXISTS (SELECT FROM m)
	)
	` + incomingStored + `
	UNION ALL
	SELECT true, o.id, o.conversation_id, o.channel, o.direction, o.author_id, o.body, o.external_id, o.delivery_status, o.created_at,
		` + convCols + `
	FROM original o JOIN conversations c ON c.id = o.conversation_id JOIN contacts ct ON ct.id = c.contact_id`

// insertIncoming stores the message in conversation $2.
const insertIncoming = `WITH conv AS (SELECT $2::bigint AS id)` + incomingTail + `
	` + incomingStored

// RecordIncoming stores a message from a contact the channel knows, in
// the contact's latest unresolved conversation on the channel, with
// everything the general path (a transaction of MessageByExternalID,
// ContactForIdentity, UnresolvedConversation, InsertMessage,
// ConversationByID and Audit) records, in one statement and so in one
// round trip. That is most inbound messages, and round trips were most of
// their cost. A message whose (channel, external id) is stored already is
// a retry: it returns the original, with duplicate set, and changes
// nothing.
//
// When it stores and finds nothing, because the channel does not know the
// contact, the contact has no unresolved conversation there, or the
// original is not committed yet, it returns ErrNotFound: take the general
// path, which creates the contact or conversation, or waits for the
// original.
//
// It does not announce the message: a NOTIFY in the statement would make
// its commit take PostgreSQL's notification queue lock, which serialises
// the commits of all concurrent ingests. Publish the live event after it.
func (s *Store) RecordIncoming(ctx context.Context, in Incoming) (_ *Message, _ *Conversation, duplicate bool, err error) {
	defer wrap(&err, "RecordIncoming(%q)", in.Channel)
	m, c, duplicate, err := scanIncoming(s.Pool.QueryRow(ctx, recordIncoming, in.Channel, in.Identifier, in.Body, externalID(in), UsageMessageReceived))
	return m, c, duplicate, err
}

// InsertIncoming stores a message in a conversation of the channel, in q's
// transaction, with everything RecordIncoming records; an incoming message
// reopens a resolved or snoozed conversation. A message whose (channel,
// external id) is stored already gives ErrConflict and changes nothing.
func (s *Store) InsertIncoming(ctx context.Context, q Querier, conversationID int64, in Incoming) (_ *Message, _ *Conversation, err error) {
	defer wrap(&err, "InsertIncoming(%d)", conversationID)
	m, c, _, err := scanIncoming(q.QueryRow(ctx, insertIncoming, in.Channel, conversationID, in.Body, externalID(in), UsageMessageReceived))
	if err == ErrNotFound {
		return nil, nil, ErrConflict
	}
	return m, c, err
}

func externalID(in Incoming) *string {
	if in.ExternalID == "" {
		return nil
	}
	return &in.ExternalID
}

func scanIncoming(row interface{ Scan(...any) error }) (*Message, *Conversation, bool, error) {
	m, c := &Message{}, &Conversation{}
	var duplicate bool
	err := row.Scan(&duplicate, &m.ID, &m.ConversationID, &m.Channel, &m.Direction, &m.AuthorID, &m.Body, &m.ExternalID, &m.DeliveryStatus, &m.CreatedAt,
		&c.ID, &c.Channel, &c.ContactID, &c.ContactName, &c.Subject, &c.Status, &c.SnoozedUntil, &c.AssigneeID, &c.TeamID,
		&c.Priority, &c.Tags, &c.LastMessageAt, &c.CreatedAt, &c.Preview)
	if err != nil {
		return nil, nil, false, notFound(err)
	}
	return m, c, duplicate, nil
}
