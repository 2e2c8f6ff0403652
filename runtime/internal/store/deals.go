package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Stage is a column of a pipeline.
type Stage struct {
	ID         int64  `json:"id"`
	PipelineID int64  `json:"pipelineId"`
	Name       string `json:"name"`
	Position   int    `json:"position"` // 1, 2, ... left to right
}

// Pipeline is an ordered set of stages deals move through.
type Pipeline struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Stages    []*Stage  `json:"stages"`
	CreatedAt time.Time `json:"createdAt"`
}

// Deal is a sale in progress. Its value is in minor units of its currency
// (cents for EUR), so sums are exact; nil (null) while nobody knows it.
type Deal struct {
	ID         int64  `json:"id"`
	Title      string `json:"title"`
	ValueMinor *int64 `json:"valueMinor"`
	Currency   string `json:"currency"` // ISO 4217, e.g. EUR; EUR if empty on create
	StageID    int64  `json:"stageId"`
	PipelineID int64  `json:"pipelineId"` // read-only: the stage's
	OwnerID    *int64 `json:"ownerId,omitempty"`
	ContactID  *int64 `json:"contactId,omitempty"`
	CompanyID  *int64 `json:"companyId,omitempty"`
	// Read-only, for boards and lists.
	ContactName string    `json:"contactName"`
	CompanyName string    `json:"companyName"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// BoardColumn is one stage of a board with its deals, most recently changed
// first, and their value summed per currency (deals without a value count
// in Deals but in no total).
type BoardColumn struct {
	Stage  *Stage           `json:"stage"`
	Deals  []*Deal          `json:"deals"`
	Totals map[string]int64 `json:"totals"`
}

// Board is a pipeline's deals grouped by stage, in stage order.
type Board struct {
	Pipeline *Pipeline      `json:"pipeline"`
	Columns  []*BoardColumn `json:"columns"`
}

// MaxStages is the most stages a pipeline has.
const MaxStages = 20

// CreatePipeline adds a pipeline with stages in the order given. A taken
// name gives ErrConflict.
func (s *Store) CreatePipeline(ctx context.Context, q Querier, name string, stages []string) (_ *Pipeline, err error) {
	defer wrap(&err, "CreatePipeline")
	name, err = checkName("name", name, true)
	if err != nil {
		return nil, err
	}
	if len(stages) == 0 || len(stages) > MaxStages {
		return nil, fmt.Errorf("%w: stages: a pipeline has 1 to %d stages", ErrInvalid, MaxStages)
	}
	seen := map[string]bool{}
	for i, st := range stages {
		if stages[i], err = checkName(fmt.Sprintf("stages: stage %d", i+1), st, true); err != nil {
			return nil, err
		}
		// Case-insensitively: "Won" and "won" would be one column to a reader.
		k := strings.ToLower(stages[i])
		if seen[k] {
			return nil, fmt.Errorf("%w: stages: stage %d repeats a name", ErrInvalid, i+1)
		}
		seen[k] = true
	}
	var id int64
	err = s.inTx(ctx, q, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO pipelines (name) VALUES ($1) RETURNING id`, name).Scan(&id); err != nil {
			if isUnique(err) {
				return ErrConflict
			}
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO pipeline_stages (pipeline_id, name, position)
			SELECT $1, name, position FROM unnest($2::text[]) WITH ORDINALITY AS s (name, position)`, id, stages)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.PipelineByID(ctx, q, id)
}

const pipelineQuery = `SELECT p.id, p.name, p.created_at, s.id, s.name, s.position
	FROM pipelines p LEFT JOIN pipeline_stages s ON s.pipeline_id = p.id`

func collectPipelines(rows pgx.Rows) ([]*Pipeline, error) {
	defer rows.Close()
	var out []*Pipeline
	for rows.Next() {
		p := &Pipeline{}
		var sid *int64
		var sname *string
		var pos *int
		if err := rows.Scan(&p.ID, &p.Name, &p.CreatedAt, &sid, &sname, &pos); err != nil {
			return nil, err
		}
		if n := len(out); n > 0 && out[n-1].ID == p.ID {
			p = out[n-1]
		} else {
			p.Stages = []*Stage{}
			out = append(out, p)
		}
		if sid != nil {
			p.Stages = append(p.Stages, &Stage{ID: *sid, PipelineID: p.ID, Name: *sname, Position: *pos})
		}
	}
	return out, rows.Err()
}

// Pipelines lists the pipelines, oldest first, with their stages in order.
func (s *Store) Pipelines(ctx context.Context) (_ []*Pipeline, err error) {
	defer wrap(&err, "Pipelines")
	rows, err := s.Pool.Query(ctx, pipelineQuery+` ORDER BY p.id, s.position, s.id`)
	if err != nil {
		return nil, err
	}
	return collectPipelines(rows)
}

// PipelineByID returns a pipeline with its stages in order.
func (s *Store) PipelineByID(ctx context.Context, q Querier, id int64) (_ *Pipeline, err error) {
	defer wrap(&err, "PipelineByID(%d)", id)
	if q == nil {
		q = s.Pool
	}
	rows, err := q.Query(ctx, pipelineQuery+` WHERE p.id = $1 ORDER BY s.position, s.id`, id)
	if err != nil {
		return nil, err
	}
	ps, err := collectPipelines(rows)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, ErrNotFound
	}
	return ps[0], nil
}

const dealCols = `d.id, d.title, d.value_minor, d.currency, d.stage_id, s.pipeline_id, d.owner_id, d.contact_id, d.company_id,
	coalesce(ct.name, ''), coalesce(co.name, ''), d.created_at, d.updated_at`

const dealJoins = ` JOIN pipeline_stages s ON s.id = d.stage_id
	LEFT JOIN contacts ct ON ct.id = d.contact_id LEFT JOIN companies co ON co.id = d.company_id`

func scanDeal(row pgx.Row) (*Deal, error) {
	d := &Deal{}
	err := row.Scan(&d.ID, &d.Title, &d.ValueMinor, &d.Currency, &d.StageID, &d.PipelineID, &d.OwnerID, &d.ContactID, &d.CompanyID,
		&d.ContactName, &d.CompanyName, &d.CreatedAt, &d.UpdatedAt)
	if err != nil {
		return nil, notFound(err)
	}
	return d, nil
}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

func checkDeal(d *Deal) error {
	var err error
	if d.Title, err = checkName("title", d.Title, true); err != nil {
		return err
	}
	if d.ValueMinor != nil && *d.ValueMinor < 0 {
		return fmt.Errorf("%w: valueMinor must not be negative", ErrInvalid)
	}
	d.Currency = strings.ToUpper(strings.TrimSpace(d.Currency))
	if d.Currency == "" {
		d.Currency = "EUR"
	}
	if !currencyRE.MatchString(d.Currency) {
		return fmt.Errorf("%w: currency: an ISO 4217 code such as EUR", ErrInvalid)
	}
	return nil
}

// dealWriteError names the field whose reference does not resolve.
func dealWriteError(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23503" {
		return err
	}
	switch pgErr.ConstraintName {
	case "deals_stage_id_fkey":
		return fmt.Errorf("%w: stageId: no such stage", ErrInvalid)
	case "deals_owner_id_fkey":
		return fmt.Errorf("%w: ownerId: no such user", ErrInvalid)
	case "deals_contact_id_fkey":
		return fmt.Errorf("%w: contactId: no such contact", ErrInvalid)
	case "deals_company_id_fkey":
		return fmt.Errorf("%w: companyId: no such company", ErrInvalid)
	}
	return fmt.Errorf("%w: a referenced record does not exist", ErrInvalid)
}

// checkDealContact refuses to tie a deal to a restricted contact: that would
// process the contact's data.
func checkDealContact(ctx context.Context, q Querier, contactID *int64) error {
	if contactID == nil {
		return nil
	}
	var restricted bool
	err := q.QueryRow(ctx, `SELECT processing_restricted FROM contacts WHERE id = $1`, *contactID).Scan(&restricted)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: contactId: no such contact", ErrInvalid)
	case err != nil:
		return err
	case restricted:
		return ErrRestricted
	}
	return nil
}

// CreateDeal adds a deal.
func (s *Store) CreateDeal(ctx context.Context, q Querier, d *Deal) (_ *Deal, err error) {
	defer wrap(&err, "CreateDeal")
	if q == nil {
		q = s.Pool
	}
	if err := checkDeal(d); err != nil {
		return nil, err
	}
	if err := checkDealContact(ctx, q, d.ContactID); err != nil {
		return nil, err
	}
	out, err := scanDeal(q.QueryRow(ctx, `WITH d AS (INSERT INTO deals (title, value_minor, currency, stage_id, owner_id, contact_id, company_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *) SELECT `+dealCols+` FROM d`+dealJoins,
		d.Title, d.ValueMinor, d.Currency, d.StageID, d.OwnerID, d.ContactID, d.CompanyID))
	if err != nil {
		return nil, dealWriteError(err)
	}
	return out, nil
}

// DealByID returns a deal.
func (s *Store) DealByID(ctx context.Context, q Querier, id int64) (_ *Deal, err error) {
	defer wrap(&err, "DealByID(%d)", id)
	if q == nil {
		q = s.Pool
	}
	return scanDeal(q.QueryRow(ctx, `SELECT `+dealCols+` FROM deals d`+dealJoins+` WHERE d.id = $1`, id))
}

// UpdateDeal replaces a deal's title, value, currency, owner, contact and
// company. Its stage changes through MoveDeal only.
func (s *Store) UpdateDeal(ctx context.Context, q Querier, d *Deal) (_ *Deal, err error) {
	defer wrap(&err, "UpdateDeal(%d)", d.ID)
	if q == nil {
		q = s.Pool
	}
	if err := checkDeal(d); err != nil {
		return nil, err
	}
	cur, err := s.DealByID(ctx, q, d.ID)
	if err != nil {
		return nil, err
	}
	// Only a new contact is checked: a deal whose contact became restricted
	// later stays editable, as the deal is the workspace's own record.
	if !sameID(cur.ContactID, d.ContactID) {
		if err := checkDealContact(ctx, q, d.ContactID); err != nil {
			return nil, err
		}
	}
	out, err := scanDeal(q.QueryRow(ctx, `WITH d AS (UPDATE deals SET title = $2, value_minor = $3, currency = $4, owner_id = $5,
			contact_id = $6, company_id = $7, updated_at = now()
		WHERE id = $1 RETURNING *) SELECT `+dealCols+` FROM d`+dealJoins,
		d.ID, d.Title, d.ValueMinor, d.Currency, d.OwnerID, d.ContactID, d.CompanyID))
	if err != nil {
		return nil, dealWriteError(err)
	}
	return out, nil
}

// MoveDeal puts a deal in another stage of its pipeline; a stage of another
// pipeline gives ErrInvalid. Moving to the current stage changes nothing.
func (s *Store) MoveDeal(ctx context.Context, q Querier, id, stageID int64) (_ *Deal, err error) {
	defer wrap(&err, "MoveDeal(%d, %d)", id, stageID)
	if q == nil {
		q = s.Pool
	}
	cur, err := s.DealByID(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if cur.StageID == stageID {
		return cur, nil
	}
	// The pipeline check sits in the statement itself, so no read-then-write
	// gap lets a deal cross pipelines.
	out, err := scanDeal(q.QueryRow(ctx, `WITH d AS (UPDATE deals d SET stage_id = nxt.id, updated_at = now()
			FROM pipeline_stages cur, pipeline_stages nxt
			WHERE d.id = $1 AND cur.id = d.stage_id AND nxt.id = $2 AND nxt.pipeline_id = cur.pipeline_id
			RETURNING d.*) SELECT `+dealCols+` FROM d`+dealJoins, id, stageID))
	if errors.Is(err, ErrNotFound) {
		var pipelineID int64
		err := q.QueryRow(ctx, `SELECT pipeline_id FROM pipeline_stages WHERE id = $1`, stageID).Scan(&pipelineID)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil, fmt.Errorf("%w: stageId: no such stage", ErrInvalid)
		case err != nil:
			return nil, err
		case pipelineID != cur.PipelineID:
			return nil, fmt.Errorf("%w: stageId: the stage belongs to another pipeline", ErrInvalid)
		}
		return nil, ErrNotFound // the deal went away meanwhile
	}
	return out, err
}

// DeleteDeal removes a deal.
func (s *Store) DeleteDeal(ctx context.Context, q Querier, id int64) (err error) {
	defer wrap(&err, "DeleteDeal(%d)", id)
	if q == nil {
		q = s.Pool
	}
	tag, err := q.Exec(ctx, `DELETE FROM deals WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// Board returns a pipeline's deals grouped by stage.
func (s *Store) Board(ctx context.Context, pipelineID int64) (_ *Board, err error) {
	defer wrap(&err, "Board(%d)", pipelineID)
	p, err := s.PipelineByID(ctx, nil, pipelineID)
	if err != nil {
		return nil, err
	}
	b := &Board{Pipeline: p, Columns: make([]*BoardColumn, 0, len(p.Stages))}
	byStage := map[int64]*BoardColumn{}
	for _, st := range p.Stages {
		col := &BoardColumn{Stage: st, Deals: []*Deal{}, Totals: map[string]int64{}}
		b.Columns = append(b.Columns, col)
		byStage[st.ID] = col
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+dealCols+` FROM deals d`+dealJoins+`
		WHERE s.pipeline_id = $1 ORDER BY d.updated_at DESC, d.id DESC`, pipelineID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDeal(rows)
		if err != nil {
			return nil, err
		}
		// A stage added after the pipeline was read has no column; its deals
		// show on the next read.
		if col := byStage[d.StageID]; col != nil {
			col.Deals = append(col.Deals, d)
			if d.ValueMinor != nil {
				col.Totals[d.Currency] += *d.ValueMinor
			}
		}
	}
	return b, rows.Err()
}

// DealFilter selects deals for a list: a company's or a contact's.
type DealFilter struct {
	CompanyID int64
	ContactID int64
	Limit     int // 1 to 500; 100 if out of range
}

// Deals lists deals, most recently changed first.
func (s *Store) Deals(ctx context.Context, f DealFilter) (_ []*Deal, err error) {
	defer wrap(&err, "Deals")
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+dealCols+` FROM deals d`+dealJoins+`
		WHERE ($1 = 0 OR d.company_id = $1) AND ($2 = 0 OR d.contact_id = $2)
		ORDER BY d.updated_at DESC, d.id DESC LIMIT $3`, f.CompanyID, f.ContactID, f.Limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Deal, error) { return scanDeal(r) })
}
