package store

import "context"

// Incoming is a contact's message for RecordIncoming.
type Incoming struct {
	Channel    string
	Identifier string // the contact as the channel names them
	Body       string
	ExternalID string // the sender's message id; "" for none
}

// recordIncoming is RecordIncoming's one statement. Its parts are those of
// the general path, in order: the contact's latest unresolved conversation
// on the channel, locked (UnresolvedConversation); the message, unless its
// (channel, external id) is taken, when nothing else happens
// (InsertMessage's ON CONFLICT); the conversation's bump,
// which also wakes a snoozed one, and its usage event (InsertMessage); the
// audit entry (Audit); and the conversation as ConversationByID returns
// it, whose preview is the new message. Keep them in step with those.
//
// The conversation's row lock serialises the contact's messages as the
// general path does. If the conversation was resolved after the snapshot
// was taken, the locking read skips it and the statement changes nothing.
const recordIncoming = `WITH conv AS (
		SELECT c.id FROM contact_identities i JOIN conversations c ON c.contact_id = i.contact_id
		WHERE i.channel = $1 AND i.identifier = $2 AND c.channel = $1 AND c.status <> 'resolved'
		ORDER BY c.last_message_at DESC, c.id DESC LIMIT 1
		FOR UPDATE OF c
	), m AS (
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
	)
	SELECT m.id, m.conversation_id, m.channel, m.direction, m.author_id, m.body, m.external_id, m.delivery_status, m.created_at,
		c.id, c.channel, c.contact_id, ct.name, c.subject, c.status, c.snoozed_until, c.assignee_id, c.team_id,
		c.priority, c.tags, c.last_message_at, c.created_at, left(m.body, 140)
	FROM m JOIN bumped c ON c.id = m.conversation_id JOIN contacts ct ON ct.id = c.contact_id`

// RecordIncoming stores a message from a contact the channel knows, in
// the contact's latest unresolved conversation on the channel, with
// everything the general path (a transaction of MessageByExternalID,
// ContactForIdentity, UnresolvedConversation, InsertMessage,
// ConversationByID and Audit) records, in one statement and so in one
// round trip. That is most inbound messages, and round trips were most of
// their cost.
//
// It does not announce the message: a NOTIFY in the statement would make
// its commit take PostgreSQL's notification queue lock, which serialises
// the commits of all concurrent ingests. Publish the live event after it.
//
// When it stores nothing, because the channel does not know the contact,
// the contact has no unresolved conversation there, or the message's
// (channel, external id) is taken, it returns ErrNotFound: take the general
// path, which creates the contact or conversation, or finds the original.
func (s *Store) RecordIncoming(ctx context.Context, in Incoming) (_ *Message, _ *Conversation, err error) {
	defer wrap(&err, "RecordIncoming(%q)", in.Channel)
	var ext *string
	if in.ExternalID != "" {
		ext = &in.ExternalID
	}
	m, c := &Message{}, &Conversation{}
	err = s.Pool.QueryRow(ctx, recordIncoming, in.Channel, in.Identifier, in.Body, ext, UsageMessageReceived).Scan(
		&m.ID, &m.ConversationID, &m.Channel, &m.Direction, &m.AuthorID, &m.Body, &m.ExternalID, &m.DeliveryStatus, &m.CreatedAt,
		&c.ID, &c.Channel, &c.ContactID, &c.ContactName, &c.Subject, &c.Status, &c.SnoozedUntil, &c.AssigneeID, &c.TeamID,
		&c.Priority, &c.Tags, &c.LastMessageAt, &c.CreatedAt, &c.Preview)
	if err != nil {
		return nil, nil, notFound(err)
	}
	return m, c, nil
}
