package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// ConsentSources are where a consent change can come from: agent (the
// UI), api, request (a rights request), channel (the contact said so on a
// channel) and import.
var ConsentSources = []string{"agent", "api", "request", "channel", "import"}

// ConsentEvent is one change of a contact's consent: marketing_opt_out,
// marketing_opt_in, restricted or unrestricted.
type ConsentEvent struct {
	ID        int64     `json:"id"`
	ContactID int64     `json:"contactId"`
	Kind      string    `json:"kind"`
	Source    string    `json:"source"`
	ActorID   *int64    `json:"actorId"`
	RequestID *int64    `json:"requestId"`
	At        time.Time `json:"at"`
}

// recordConsentEvents adds a consent event for each flag that changed from
// (wasOptOut, wasRestricted) to now's.
func recordConsentEvents(ctx context.Context, q Querier, id int64, wasOptOut, wasRestricted bool, now *Contact, c Consent) error {
	var kinds []string
	if now.MarketingOptOut != wasOptOut {
		kinds = append(kinds, map[bool]string{true: "marketing_opt_out", false: "marketing_opt_in"}[now.MarketingOptOut])
	}
	if now.ProcessingRestricted != wasRestricted {
		kinds = append(kinds, map[bool]string{true: "restricted", false: "unrestricted"}[now.ProcessingRestricted])
	}
	if len(kinds) == 0 {
		return nil
	}
	_, err := q.Exec(ctx, `INSERT INTO consent_events (contact_id, kind, source, actor_id, request_id)
		SELECT $1, k, $3, $4, $5 FROM unnest($2::text[]) WITH ORDINALITY AS x(k, n) ORDER BY n`,
		id, kinds, c.Source, c.ActorID, c.RequestID)
	return err
}

// ConsentEvents lists a contact's consent changes, newest first.
func (s *Store) ConsentEvents(ctx context.Context, contactID int64) (_ []ConsentEvent, err error) {
	defer wrap(&err, "ConsentEvents(%d)", contactID)
	rows, err := s.Pool.Query(ctx, `SELECT id, contact_id, kind, source, actor_id, request_id, at FROM consent_events
		WHERE contact_id = $1 ORDER BY at DESC, id DESC`, contactID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (ConsentEvent, error) {
		var e ConsentEvent
		err := row.Scan(&e.ID, &e.ContactID, &e.Kind, &e.Source, &e.ActorID, &e.RequestID, &e.At)
		return e, err
	})
}
