package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Company is an organisation contacts and deals belong to.
type Company struct {
	ID           int64             `json:"id"`
	Name         string            `json:"name"`
	Domain       string            `json:"domain"`
	Address      string            `json:"address"`
	Custom       map[string]string `json:"custom"`
	ContactCount int               `json:"contactCount"` // read-only
	CreatedAt    time.Time         `json:"createdAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
}

const companyCols = `co.id, co.name, co.domain, co.address, co.custom,
	(SELECT count(*) FROM contacts c WHERE c.company_id = co.id), co.created_at, co.updated_at`

func scanCompany(row pgx.Row) (*Company, error) {
	c := &Company{}
	var custom []byte
	if err := row.Scan(&c.ID, &c.Name, &c.Domain, &c.Address, &custom, &c.ContactCount, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, notFound(err)
	}
	c.Custom = map[string]string{}
	_ = json.Unmarshal(custom, &c.Custom)
	return c, nil
}

func checkCompany(c *Company) error {
	var err error
	if c.Name, err = checkName("name", c.Name, true); err != nil {
		return err
	}
	c.Domain = strings.ToLower(strings.TrimSpace(c.Domain))
	if c.Domain != "" && (len(c.Domain) > 253 || !strings.Contains(c.Domain, ".") || !cleanText(c.Domain) ||
		strings.ContainsAny(c.Domain, " /@:")) {
		return fmt.Errorf("%w: domain: not a domain name such as example.com", ErrInvalid)
	}
	if c.Address, err = checkAddress(c.Address); err != nil {
		return err
	}
	c.Custom, err = checkCustom(c.Custom, false)
	return err
}

// CreateCompany adds a company. Names need not be unique.
func (s *Store) CreateCompany(ctx context.Context, q Querier, c *Company) (_ *Company, err error) {
	defer wrap(&err, "CreateCompany")
	if q == nil {
		q = s.Pool
	}
	if err := checkCompany(c); err != nil {
		return nil, err
	}
	custom, _ := json.Marshal(c.Custom)
	return scanCompany(q.QueryRow(ctx, `WITH co AS (INSERT INTO companies (name, domain, address, custom) VALUES ($1, $2, $3, $4) RETURNING *)
		SELECT `+companyCols+` FROM co`, c.Name, c.Domain, c.Address, custom))
}

// CompanyByID returns a company.
func (s *Store) CompanyByID(ctx context.Context, q Querier, id int64) (_ *Company, err error) {
	defer wrap(&err, "CompanyByID(%d)", id)
	if q == nil {
		q = s.Pool
	}
	return scanCompany(q.QueryRow(ctx, `SELECT `+companyCols+` FROM companies co WHERE co.id = $1`, id))
}

// CompanyByName returns the oldest company of that name, ignoring case.
func (s *Store) CompanyByName(ctx context.Context, q Querier, name string) (_ *Company, err error) {
	defer wrap(&err, "CompanyByName")
	if q == nil {
		q = s.Pool
	}
	return scanCompany(q.QueryRow(ctx, `SELECT `+companyCols+` FROM companies co WHERE lower(co.name) = lower($1) ORDER BY co.id LIMIT 1`,
		strings.TrimSpace(name)))
}

// Companies lists companies whose name or domain contains search (all if
// empty), by name, at most limit (1 to 500; 100 if out of range).
func (s *Store) Companies(ctx context.Context, search string, limit int) (_ []*Company, err error) {
	defer wrap(&err, "Companies")
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	search = strings.TrimSpace(search)
	rows, err := s.Pool.Query(ctx, `SELECT `+companyCols+` FROM companies co
		WHERE $1 = '' OR co.name ILIKE $2 OR co.domain ILIKE $2
		ORDER BY lower(co.name), co.id LIMIT $3`, search, likePattern(search), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Company
	for rows.Next() {
		c, err := scanCompany(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateCompany replaces a company's name, domain, address and custom attributes.
func (s *Store) UpdateCompany(ctx context.Context, q Querier, c *Company) (_ *Company, err error) {
	defer wrap(&err, "UpdateCompany(%d)", c.ID)
	if q == nil {
		q = s.Pool
	}
	if err := checkCompany(c); err != nil {
		return nil, err
	}
	custom, _ := json.Marshal(c.Custom)
	return scanCompany(q.QueryRow(ctx, `WITH co AS (UPDATE companies SET name = $2, domain = $3, address = $4, custom = $5, updated_at = now()
		WHERE id = $1 RETURNING *) SELECT `+companyCols+` FROM co`, c.ID, c.Name, c.Domain, c.Address, custom))
}

// DeleteCompany removes a company; its contacts and deals stay, without a company.
func (s *Store) DeleteCompany(ctx context.Context, q Querier, id int64) (err error) {
	defer wrap(&err, "DeleteCompany(%d)", id)
	if q == nil {
		q = s.Pool
	}
	tag, err := q.Exec(ctx, `DELETE FROM companies WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// EnsureCompany returns the oldest company named name (ignoring case),
// creating it if there is none; created says which.
func (s *Store) EnsureCompany(ctx context.Context, q Querier, name string) (c *Company, created bool, err error) {
	defer wrap(&err, "EnsureCompany")
	c, err = s.CompanyByName(ctx, q, name)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return c, false, err
	}
	c, err = s.CreateCompany(ctx, q, &Company{Name: name})
	return c, err == nil, err
}
