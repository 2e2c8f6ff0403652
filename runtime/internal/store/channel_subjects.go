package store

import (
	"context"
)

// ChannelSubject is a contact found by one of their channel identities.
type ChannelSubject struct {
	ContactID int64
	// Elsewhere says whether the contact also has an identity, or a
	// conversation, on another channel: data that did not come from this
	// one.
	Elsewhere bool
}

// ContactsByIdentity returns the contacts holding an identity on channel
// with one of identifiers, and locks them (FOR UPDATE) until q's
// transaction ends, so that no conversation is added to them meanwhile.
func (s *Store) ContactsByIdentity(ctx context.Context, q Querier, channel string, identifiers []string) (_ []ChannelSubject, err error) {
	defer wrap(&err, "ContactsByIdentity(%s)", channel)
	if len(identifiers) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT c.id,
			EXISTS (SELECT 1 FROM contact_identities o WHERE o.contact_id = c.id AND o.channel <> $1)
			OR EXISTS (SELECT 1 FROM conversations v WHERE v.contact_id = c.id AND v.channel <> $1)
		FROM contacts c
		WHERE c.id IN (SELECT contact_id FROM contact_identities WHERE channel = $1 AND identifier = ANY($2))
		ORDER BY c.id FOR UPDATE OF c`, channel, identifiers)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ChannelSubject
	for rows.Next() {
		var cs ChannelSubject
		if err := rows.Scan(&cs.ContactID, &cs.Elsewhere); err != nil {
			return nil, err
		}
		out = append(out, cs)
	}
	return out, rows.Err()
}
