package store

import "context"

// The kinds of usage event: what usage_events counts, one row each.
const (
	UsageSignIn          = "sign_in"          // a member signed in with a password
	UsageMessageSent     = "message_sent"     // an agent's reply was stored, to go out
	UsageMessageReceived = "message_received" // a contact's message came in
	UsageExport          = "export"           // a member exported data; Quantity is its rows
	UsageAPICall         = "api_call"         // a JSON API request authenticated by a token
)

// UsageEvent is one counted use of the workspace. It holds ids and counts
// only: usage is analytics, kept longer than the data it counts (see
// runtime/privacy/retention).
type UsageEvent struct {
	Kind           string
	UserID         *int64
	ContactID      *int64
	ConversationID *int64
	MessageID      *int64
	APITokenID     *int64
	Channel        *string
	Quantity       int64 // the rows of an export; 1 for the other kinds when 0
}

// RecordUsage adds a usage event, in q's transaction when q is one, so that
// it is counted exactly when what it counts happens.
func (s *Store) RecordUsage(ctx context.Context, q Querier, e UsageEvent) (err error) {
	defer wrap(&err, "RecordUsage(%q)", e.Kind)
	if q == nil {
		q = s.Pool
	}
	if e.Quantity == 0 && e.Kind != UsageExport {
		e.Quantity = 1
	}
	_, err = q.Exec(ctx, `INSERT INTO usage_events (kind, user_id, contact_id, conversation_id, message_id, api_token_id, channel, quantity)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, e.Kind, e.UserID, e.ContactID, e.ConversationID, e.MessageID, e.APITokenID, e.Channel, e.Quantity)
	return err
}
