package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Contact is a person the workspace talks to.
type Contact struct {
	ID                   int64             `json:"id"`
	Name                 string            `json:"name"`
	Emails               []string          `json:"emails"`
	Phones               []string          `json:"phones"`
	CompanyID            *int64            `json:"companyId,omitempty"`
	Custom               map[string]string `json:"custom"`
	Tags                 []string          `json:"tags"`
	Address              string            `json:"address"`
	MarketingOptOut      bool              `json:"marketingOptOut"`
	ProcessingRestricted bool              `json:"processingRestricted"`
	CreatedAt            time.Time         `json:"createdAt"`
	UpdatedAt            time.Time         `json:"updatedAt"`
}

const contactCols = `id, name, emails, phones, company_id, custom, tags, address, marketing_opt_out, processing_restricted, created_at, updated_at`

func scanContact(row pgx.Row) (*Contact, error) {
	c := &Contact{}
	var custom []byte
	err := row.Scan(&c.ID, &c.Name, &c.Emails, &c.Phones, &c.CompanyID, &custom, &c.Tags, &c.Address, &c.MarketingOptOut, &c.ProcessingRestricted, &c.CreatedAt, &c.UpdatedAt)
	if err != nil {
		return nil, notFound(err)
	}
	c.Custom = map[string]string{}
	_ = json.Unmarshal(custom, &c.Custom)
	return c, nil
}

// ContactByID returns a contact.
func (s *Store) ContactByID(ctx context.Context, q Querier, id int64) (_ *Contact, err error) {
	defer wrap(&err, "ContactByID(%d)", id)
	if q == nil {
		q = s.Pool
	}
	return scanContact(q.QueryRow(ctx, `SELECT `+contactCols+` FROM contacts WHERE id = $1`, id))
}

// ContactForIdentity returns the contact a channel identifier belongs to,
// creating it (with name) if there is none.
func (s *Store) ContactForIdentity(ctx context.Context, q Querier, channel, identifier, name string) (_ *Contact, _ bool, err error) {
	defer wrap(&err, "ContactForIdentity(%q)", channel)
	c, err := scanContact(q.QueryRow(ctx, `SELECT `+contactCols+` FROM contacts
		WHERE id = (SELECT contact_id FROM contact_identities WHERE channel = $1 AND identifier = $2)`, channel, identifier))
	if err == nil {
		return c, false, nil
	}
	if err != ErrNotFound {
		return nil, false, err
	}
	name, emails, phones := identityContact(channel, identifier, name)
	c, err = scanContact(q.QueryRow(ctx, `INSERT INTO contacts (name, emails, phones) VALUES ($1, coalesce($2, '{}'::text[]), coalesce($3, '{}'::text[]))
		RETURNING `+contactCols, name, emails, phones))
	if err != nil {
		return nil, false, err
	}
	if _, err := q.Exec(ctx, `INSERT INTO contact_identities (channel, identifier, contact_id) VALUES ($1, $2, $3)`, channel, identifier, c.ID); err != nil {
		if isUnique(err) { // a concurrent ingest created it first
			return nil, false, ErrConflict
		}
		return nil, false, err
	}
	return c, true, nil
}

// identityContact is what a contact created for a channel identifier
// starts with: the name given, or else the identifier, and the identifier
// as an email or phone the way the CRM stores them, so that imports and
// searches match the contact. A Messenger id is a page-scoped number,
// neither.
func identityContact(channel, identifier, name string) (_ string, emails, phones []string) {
	if e, ok := ParseEmail(identifier); ok && looksLikeEmail(identifier) {
		emails = []string{e}
	} else if looksLikePhone(identifier) && !strings.HasPrefix(channel, "messenger/") {
		// Channels such as WhatsApp give E.164 numbers without the "+".
		candidate := identifier
		if !strings.HasPrefix(candidate, "+") {
			candidate = "+" + candidate
		}
		if p, ok := ParsePhone(candidate); ok {
			phones = []string{p}
		}
	}
	if name == "" {
		name = identifier
	}
	return name, emails, phones
}

// ContactIdentifier returns how a channel names a contact, or "" when the
// contact has no identity on that channel.
func (s *Store) ContactIdentifier(ctx context.Context, q Querier, contactID int64, channel string) (_ string, err error) {
	defer wrap(&err, "ContactIdentifier(%d, %q)", contactID, channel)
	var identifier string
	err = q.QueryRow(ctx, `SELECT identifier FROM contact_identities WHERE contact_id = $1 AND channel = $2 LIMIT 1`,
		contactID, channel).Scan(&identifier)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return identifier, err
}

func looksLikeEmail(s string) bool {
	at := -1
	for i, r := range s {
		if r == '@' {
			at = i
		}
		if r == ' ' {
			return false
		}
	}
	return at > 0 && at < len(s)-1
}

func looksLikePhone(s string) bool {
	if len(s) < 5 || len(s) > 20 {
		return false
	}
	for i, r := range s {
		if !(r >= '0' && r <= '9' || (i == 0 && r == '+')) {
			return false
		}
	}
	return true
}
