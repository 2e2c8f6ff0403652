// Package crm is the CRM's service layer: contacts, companies, notes,
// pipelines and deals, CSV import and export. Every change is written
// together with its audit log entry, in one transaction, and the audit log
// holds ids only.
package crm

import (
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Service is the CRM.
type Service struct {
	Store *store.Store
}

// Contact returns a contact.
func (s *Service) Contact(ctx context.Context, id int64) (*store.Contact, error) {
	return s.Store.ContactByID(ctx, nil, id)
}

// Contacts lists contacts.
func (s *Service) Contacts(ctx context.Context, f store.ContactFilter) ([]*store.ContactRow, error) {
	return s.Store.ListContacts(ctx, f)
}

// CreateContact adds a contact.
func (s *Service) CreateContact(ctx context.Context, actor *int64, c *store.Contact) (*store.Contact, error) {
	var out *store.Contact
	err := s.Store.Audited(ctx, actor, "contact.created", "contact", func(tx pgx.Tx) (id int64, err error) {
		if out, err = s.Store.CreateContact(ctx, tx, c); err != nil {
			return 0, err
		}
		return out.ID, nil
	})
	return out, err
}

// UpdateContact replaces a contact's editable fields; see store.UpdateContact.
func (s *Service) UpdateContact(ctx context.Context, actor *int64, c *store.Contact) (*store.Contact, error) {
	var out *store.Contact
	err := s.Store.Audited(ctx, actor, "contact.updated", "contact", func(tx pgx.Tx) (id int64, err error) {
		if out, err = s.Store.UpdateContact(ctx, tx, c); err != nil {
			return 0, err
		}
		return out.ID, nil
	})
	return out, err
}

// SetConsent changes a contact's marketing opt-out and processing
// restriction; see store.SetContactConsent.
func (s *Service) SetConsent(ctx context.Context, actor *int64, id int64, c store.Consent) (*store.Contact, error) {
	var out *store.Contact
	err := s.Store.Audited(ctx, actor, "contact.consent_changed", "contact", func(tx pgx.Tx) (_ int64, err error) {
		c.ActorID = actor
		out, err = s.Store.SetContactConsent(ctx, tx, id, c)
		return id, err
	})
	return out, err
}

// MergeContacts folds drop into keep; see store.MergeContacts. The audit log
// records the merge on both ids.
func (s *Service) MergeContacts(ctx context.Context, actor *int64, keepID, dropID int64) (*store.Contact, error) {
	var out *store.Contact
	err := s.Store.Audited(ctx, actor, "contact.merged", "contact", func(tx pgx.Tx) (_ int64, err error) {
		if out, err = s.Store.MergeContacts(ctx, tx, keepID, dropID); err != nil {
			return 0, err
		}
		if err := s.Store.Audit(ctx, tx, actor, "user", "contact.merged", "contact", dropID); err != nil {
			return 0, err
		}
		return keepID, nil
	})
	return out, err
}

// Duplicates lists pairs of contacts that may be one person.
func (s *Service) Duplicates(ctx context.Context, limit int) ([]*store.DuplicatePair, error) {
	return s.Store.DuplicateContacts(ctx, limit)
}

// Activity returns a contact's timeline, newest first.
func (s *Service) Activity(ctx context.Context, contactID int64, limit int) ([]*store.Activity, error) {
	return s.Store.ContactActivity(ctx, contactID, limit)
}

// AddNote adds the actor's note to a contact.
func (s *Service) AddNote(ctx context.Context, actor *int64, contactID int64, body string) (*store.Note, error) {
	var out *store.Note
	err := s.Store.Audited(ctx, actor, "note.created", "note", func(tx pgx.Tx) (id int64, err error) {
		if out, err = s.Store.AddNote(ctx, tx, contactID, actor, body); err != nil {
			return 0, err
		}
		return out.ID, nil
	})
	return out, err
}

// Notes lists a contact's notes, newest first.
func (s *Service) Notes(ctx context.Context, contactID int64) ([]*store.Note, error) {
	return s.Store.Notes(ctx, contactID)
}

// Company returns a company.
func (s *Service) Company(ctx context.Context, id int64) (*store.Company, error) {
	return s.Store.CompanyByID(ctx, nil, id)
}

// Companies lists companies; see store.Companies.
func (s *Service) Companies(ctx context.Context, search string, limit int) ([]*store.Company, error) {
	return s.Store.Companies(ctx, search, limit)
}

// CreateCompany adds a company.
func (s *Service) CreateCompany(ctx context.Context, actor *int64, c *store.Company) (*store.Company, error) {
	var out *store.Company
	err := s.Store.Audited(ctx, actor, "company.created", "company", func(tx pgx.Tx) (id int64, err error) {
		if out, err = s.Store.CreateCompany(ctx, tx, c); err != nil {
			return 0, err
		}
		return out.ID, nil
	})
	return out, err
}

// UpdateCompany replaces a company's name, domain, address and custom attributes.
func (s *Service) UpdateCompany(ctx context.Context, actor *int64, c *store.Company) (*store.Company, error) {
	var out *store.Company
	err := s.Store.Audited(ctx, actor, "company.updated", "company", func(tx pgx.Tx) (id int64, err error) {
		if out, err = s.Store.UpdateCompany(ctx, tx, c); err != nil {
			return 0, err
		}
		return out.ID, nil
	})
	return out, err
}

// DeleteCompany removes a company; its contacts and deals stay.
func (s *Service) DeleteCompany(ctx context.Context, actor *int64, id int64) error {
	return s.Store.Audited(ctx, actor, "company.deleted", "company", func(tx pgx.Tx) (int64, error) {
		return id, s.Store.DeleteCompany(ctx, tx, id)
	})
}

// EnsureCompany returns the oldest company of that name, ignoring case, and
// creates it, with its audit entry, when there is none.
func (s *Service) EnsureCompany(ctx context.Context, actor *int64, name string) (co *store.Company, err error) {
	err = s.Store.Transact(ctx, func(tx pgx.Tx) error {
		co, err = s.ensureCompany(ctx, tx, actor, name)
		return err
	})
	return co, err
}

func (s *Service) ensureCompany(ctx context.Context, tx pgx.Tx, actor *int64, name string) (*store.Company, error) {
	co, made, err := s.Store.EnsureCompany(ctx, tx, name)
	if err != nil || !made {
		return co, err
	}
	return co, s.Store.Audit(ctx, tx, actor, "user", "company.created", "company", co.ID)
}

// Pipelines lists the pipelines with their stages.
func (s *Service) Pipelines(ctx context.Context) ([]*store.Pipeline, error) {
	return s.Store.Pipelines(ctx)
}

// CreatePipeline adds a pipeline with stages in order.
func (s *Service) CreatePipeline(ctx context.Context, actor *int64, name string, stages []string) (*store.Pipeline, error) {
	var out *store.Pipeline
	err := s.Store.Audited(ctx, actor, "pipeline.created", "pipeline", func(tx pgx.Tx) (id int64, err error) {
		if out, err = s.Store.CreatePipeline(ctx, tx, name, stages); err != nil {
			return 0, err
		}
		return out.ID, nil
	})
	return out, err
}

// Board returns a pipeline's deals grouped by stage.
func (s *Service) Board(ctx context.Context, pipelineID int64) (*store.Board, error) {
	return s.Store.Board(ctx, pipelineID)
}

// Deal returns a deal.
func (s *Service) Deal(ctx context.Context, id int64) (*store.Deal, error) {
	return s.Store.DealByID(ctx, nil, id)
}

// CreateDeal adds a deal.
func (s *Service) CreateDeal(ctx context.Context, actor *int64, d *store.Deal) (*store.Deal, error) {
	var out *store.Deal
	err := s.Store.Audited(ctx, actor, "deal.created", "deal", func(tx pgx.Tx) (id int64, err error) {
		if out, err = s.Store.CreateDeal(ctx, tx, d); err != nil {
			return 0, err
		}
		return out.ID, nil
	})
	return out, err
}

// UpdateDeal replaces a deal's fields other than its stage.
func (s *Service) UpdateDeal(ctx context.Context, actor *int64, d *store.Deal) (*store.Deal, error) {
	var out *store.Deal
	err := s.Store.Audited(ctx, actor, "deal.updated", "deal", func(tx pgx.Tx) (id int64, err error) {
		if out, err = s.Store.UpdateDeal(ctx, tx, d); err != nil {
			return 0, err
		}
		return out.ID, nil
	})
	return out, err
}

// MoveDeal puts a deal in another stage of its pipeline.
func (s *Service) MoveDeal(ctx context.Context, actor *int64, id, stageID int64) (*store.Deal, error) {
	var out *store.Deal
	err := s.Store.Audited(ctx, actor, "deal.moved", "deal", func(tx pgx.Tx) (_ int64, err error) {
		out, err = s.Store.MoveDeal(ctx, tx, id, stageID)
		return id, err
	})
	return out, err
}

// DeleteDeal removes a deal.
func (s *Service) DeleteDeal(ctx context.Context, actor *int64, id int64) error {
	return s.Store.Audited(ctx, actor, "deal.deleted", "deal", func(tx pgx.Tx) (int64, error) {
		return id, s.Store.DeleteDeal(ctx, tx, id)
	})
}

// ImportReport says what an import did.
type ImportReport struct {
	Created       int        `json:"created"`
	Updated       int        `json:"updated"`
	Errors        []RowError `json:"errors"` // by line
	ErrorsOmitted int        `json:"errorsOmitted"`
}

// errRow is a row that cannot be written, for a reason the report states.
type errRow struct{ column, message string }

func (e *errRow) Error() string { return e.message }

// ImportContacts imports contacts from CSV; see ParseContactsCSV for the
// format. A row sharing an email or phone with an existing contact updates
// that contact: its name, company and given custom attributes are replaced,
// emails, phones and tags added to, and consent flags only ever set, never
// cleared, by a file. A row is checked in full before it writes anything,
// so a refused row changes nothing and the others go on; all rows are
// written in one transaction, so a database failure imports nothing. Each
// contact written gets a "contacts.imported" audit entry.
func (s *Service) ImportContacts(ctx context.Context, actor *int64, r io.Reader) (*ImportReport, error) {
	p, err := ParseContactsCSV(r)
	if err != nil {
		return nil, err
	}
	rep := &ImportReport{Errors: p.Errors, ErrorsOmitted: p.ErrorsOmitted}
	if rep.Errors == nil {
		rep.Errors = []RowError{}
	}
	// No savepoint per row: tens of thousands of subtransactions in one
	// transaction slow every other session's visibility checks.
	err = s.Store.Transact(ctx, func(tx pgx.Tx) error {
		// Companies by lower-cased name: a file names a few companies many times over.
		companies := map[string]int64{}
		var written []int64 // audited together at the end, in row order
		for _, row := range p.Rows {
			id, created, err := s.importRow(ctx, tx, actor, row, p, companies)
			var bad *errRow
			switch {
			case err == nil:
				written = append(written, id)
				if created {
					rep.Created++
				} else {
					rep.Updated++
				}
				continue
			case errors.As(err, &bad):
			case errors.Is(err, store.ErrInvalid):
				bad = &errRow{message: strings.TrimPrefix(err.Error(), store.ErrInvalid.Error()+": ")}
			case errors.Is(err, store.ErrRestricted): // restricted since the match was read; nothing was written
				bad = &errRow{message: "matches a contact whose processing is restricted"}
			default:
				return err
			}
			if len(rep.Errors) < MaxReportedErrors {
				rep.Errors = append(rep.Errors, RowError{Line: row.Line, Column: bad.column, Message: bad.message})
			} else {
				rep.ErrorsOmitted++
			}
		}
		return s.Store.AuditEach(ctx, tx, actor, "user", "contacts.imported", "contact", written)
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(rep.Errors, func(i, j int) bool { return rep.Errors[i].Line < rep.Errors[j].Line })
	return rep, nil
}

// importRow writes one row: it updates the contact the row's emails or
// phones already belong to, or creates one. Every check that can refuse the
// row comes before its first write.
func (s *Service) importRow(ctx context.Context, tx pgx.Tx, actor *int64, row *ImportRow, p *Parsed, companies map[string]int64) (id int64, created bool, err error) {
	matches, err := s.Store.ContactsWith(ctx, tx, row.Emails, row.Phones)
	if err != nil {
		return 0, false, err
	}
	// Which column a match came through, for the report.
	via := func(c *store.Contact) string {
		for _, e := range row.Emails {
			if slices.Contains(c.Emails, e) {
				return p.EmailColumn
			}
		}
		return p.PhoneColumn
	}
	var cur *store.Contact
	c := &store.Contact{Name: row.Name, Emails: row.Emails, Phones: row.Phones, Custom: row.Custom, Tags: row.Tags,
		MarketingOptOut: row.MarketingOptOut, ProcessingRestricted: row.ProcessingRestricted}
	switch {
	case len(matches) > 1:
		return 0, false, &errRow{via(matches[1]), "matches more than one existing contact; merge them first"}
	case len(matches) == 1 && matches[0].ProcessingRestricted:
		return 0, false, &errRow{via(matches[0]), "matches a contact whose processing is restricted"}
	case len(matches) == 1:
		cur = matches[0]
		custom := map[string]string{}
		for k, v := range cur.Custom {
			custom[k] = v
		}
		for k, v := range row.Custom {
			custom[k] = v
		}
		c = &store.Contact{ID: cur.ID, Name: cur.Name, Emails: store.MergeValues(cur.Emails, row.Emails), Phones: store.MergeValues(cur.Phones, row.Phones),
			CompanyID: cur.CompanyID, Custom: custom, Tags: store.MergeValues(cur.Tags, row.Tags), Address: cur.Address}
		if row.Name != "" {
			c.Name = row.Name
		}
	}
	if err := store.CheckContact(c, cur); err != nil {
		return 0, false, err
	}

	if row.Company != "" {
		id, ok := companies[strings.ToLower(row.Company)]
		if !ok {
			co, err := s.ensureCompany(ctx, tx, actor, row.Company)
			if err != nil {
				return 0, false, err
			}
			id = co.ID
			companies[strings.ToLower(row.Company)] = id
		}
		c.CompanyID = &id
	}
	if cur == nil {
		// Created without consent flags, which are then set below, so
		// that consent_events records them as the import's.
		c.MarketingOptOut, c.ProcessingRestricted = false, false
		c, err = s.Store.CreateContact(ctx, tx, c)
		created = true
	} else {
		c, err = s.Store.UpdateContact(ctx, tx, c)
	}
	if err == nil && (row.MarketingOptOut || row.ProcessingRestricted) {
		consent := store.Consent{Source: "import", ActorID: actor}
		if row.MarketingOptOut {
			consent.MarketingOptOut = &row.MarketingOptOut
		}
		if row.ProcessingRestricted {
			consent.ProcessingRestricted = &row.ProcessingRestricted
		}
		c, err = s.Store.SetContactConsent(ctx, tx, c.ID, consent)
	}
	if err != nil {
		return 0, false, err
	}
	return c.ID, created, nil
}

// ExportContacts writes every contact as CSV to w, by ascending id, in the
// columns ImportContacts reads, streaming. The export is audited as
// "contacts.exported" on object id 0: it covers all contacts. Once it is
// written, it is counted in usage_events with its number of rows.
func (s *Service) ExportContacts(ctx context.Context, actor *int64, w io.Writer) error {
	if err := s.Store.Audit(ctx, nil, actor, "user", "contacts.exported", "contact", 0); err != nil {
		return err
	}
	var n int64
	err := writeContactsCSV(w, func(header func([]string) error, row func(*store.ContactRow) error) error {
		return s.Store.ExportContacts(ctx, header, func(r *store.ContactRow) error {
			n++
			return row(r)
		})
	})
	if err != nil {
		return err
	}
	return s.Store.RecordUsage(ctx, nil, store.UsageEvent{Kind: store.UsageExport, UserID: actor, Quantity: n})
}
