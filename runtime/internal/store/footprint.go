package store

import "context"

// ContactFootprint counts what deleting a contact takes with it, for the
// confirmation page: their conversations with the messages, attachments and
// notes in them, their notes, and the deals that name them (which stay,
// unlinked).
type ContactFootprint struct {
	Conversations int64
	Messages      int64
	Attachments   int64
	Notes         int64
	Deals         int64
}

// ContactFootprint counts a contact's rows; see ContactFootprint.
func (s *Store) ContactFootprint(ctx context.Context, id int64) (_ *ContactFootprint, err error) {
	defer wrap(&err, "ContactFootprint(%d)", id)
	f := &ContactFootprint{}
	err = s.Pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM conversations WHERE contact_id = $1),
		(SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = $1),
		(SELECT count(*) FROM attachments a JOIN messages m ON m.id = a.message_id JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = $1),
		(SELECT count(*) FROM notes WHERE contact_id = $1),
		(SELECT count(*) FROM deals WHERE contact_id = $1)`, id).
		Scan(&f.Conversations, &f.Messages, &f.Attachments, &f.Notes, &f.Deals)
	return f, err
}

// CompanyFootprint counts the contacts and deals of a company, which stay,
// without a company, when it is deleted.
func (s *Store) CompanyFootprint(ctx context.Context, id int64) (people, deals int64, err error) {
	defer wrap(&err, "CompanyFootprint(%d)", id)
	err = s.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM contacts WHERE company_id = $1), (SELECT count(*) FROM deals WHERE company_id = $1)`, id).
		Scan(&people, &deals)
	return people, deals, err
}
