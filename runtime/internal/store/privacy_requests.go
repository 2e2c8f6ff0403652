package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Rights-request kinds (issue 12), as the privacy_requests.kind check has them.
const (
	RequestAccess        = "access"
	RequestRectification = "rectification"
	RequestErasure       = "erasure"
	RequestRestriction   = "restriction"
	RequestObjection     = "objection"
	RequestPortability   = "portability"
)

// RequestKinds are the kinds of rights request, in the order forms list them.
var RequestKinds = []string{RequestAccess, RequestRectification, RequestErasure, RequestRestriction, RequestObjection, RequestPortability}

// Rights-request statuses. Open and in progress are pending; completed and
// rejected are closed, with completed_at set.
const (
	RequestOpen       = "open"
	RequestInProgress = "in_progress"
	RequestCompleted  = "completed"
	RequestRejected   = "rejected"
)

// RequestStatuses are the statuses of a rights request.
var RequestStatuses = []string{RequestOpen, RequestInProgress, RequestCompleted, RequestRejected}

// Subjects of a rights request.
const (
	SubjectContact = "contact"
	SubjectMember  = "member"
)

// Where a rights request came from.
const (
	SourceAdmin  = "admin"
	SourceAPI    = "api"
	SourcePublic = "public"
	SourceMeta   = "meta"
)

// DueSoon is how close to its due date a pending request is "due soon".
const DueSoon = 7 * 24 * time.Hour

// PrivacyRequest is a data subject's rights request. It names its subject
// by id only, and outlives an erasure of the subject as evidence.
type PrivacyRequest struct {
	ID          int64  `json:"id"`
	Kind        string `json:"kind"`
	Status      string `json:"status"`
	SubjectType string `json:"subjectType"`
	// SubjectID is the contact's or member's id; nil when the request names
	// no subject found yet.
	SubjectID *int64 `json:"subjectId"`
	// Requester is how to answer the person who asked (an email address, or
	// empty). It is cleared when the request is closed.
	Requester  string    `json:"requester"`
	Source     string    `json:"source"`
	ReceivedAt time.Time `json:"receivedAt"`
	DueAt      time.Time `json:"dueAt"`
	AssigneeID *int64    `json:"assigneeId"`
	// AssigneeName is the assignee's name, for lists ("" if none).
	AssigneeName string     `json:"assigneeName,omitempty"`
	CreatedBy    *int64     `json:"createdBy"`
	CompletedBy  *int64     `json:"completedBy"`
	CompletedAt  *time.Time `json:"completedAt"`
	Evidence     Evidence   `json:"evidence"`
	// ConfirmationCode is the random code a status page without sign-in
	// finds the request by; empty if the request has none.
	ConfirmationCode string    `json:"confirmationCode,omitempty"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
}

// Pending says whether the request is still open or in progress.
func (r *PrivacyRequest) Pending() bool {
	return r.Status == RequestOpen || r.Status == RequestInProgress
}

// Overdue says whether the request is pending past its due date at now.
func (r *PrivacyRequest) Overdue(now time.Time) bool { return r.Pending() && r.DueAt.Before(now) }

// IsDueSoon says whether the request is pending and due within DueSoon of now.
func (r *PrivacyRequest) IsDueSoon(now time.Time) bool {
	return r.Pending() && !r.DueAt.Before(now) && r.DueAt.Before(now.Add(DueSoon))
}

// Evidence is what was done to answer a request: ids, counts, names of
// fields and fixed phrases only, never the personal data itself.
type Evidence struct {
	// Action is what was done: "erased", "exported", "restricted",
	// "opted_out", "rectified", "rejected".
	Action string `json:"action,omitempty"`
	// Counts are the rows changed (or exported) per table.
	Counts map[string]int64 `json:"counts,omitempty"`
	// At is when it was done.
	At time.Time `json:"at,omitzero"`
	// Fields are the names of the fields that changed (rectification).
	Fields []string `json:"fields,omitempty"`
	// Reason is a rejection's reason code.
	Reason string `json:"reason,omitempty"`
	// Note is a fixed phrase from the code, never free text.
	Note string `json:"note,omitempty"`
}

// NewPrivacyRequest is a request to file.
type NewPrivacyRequest struct {
	Kind, SubjectType string
	SubjectID         *int64
	Requester, Source string
	ReceivedAt        time.Time
	// Deadline is how long the workspace has to answer: the request is due
	// at ReceivedAt + Deadline.
	Deadline              time.Duration
	AssigneeID, CreatedBy *int64
	// WithCode gives the request a random confirmation code.
	WithCode bool
}

const privacyRequestCols = `r.id, r.kind, r.status, r.subject_type, r.subject_id, r.requester, r.source, r.received_at, r.due_at,
	r.assignee_id, coalesce(a.name, ''), r.created_by, r.completed_by, r.completed_at, r.evidence, coalesce(r.confirmation_code, ''),
	r.created_at, r.updated_at`

const privacyRequestFrom = ` FROM privacy_requests r LEFT JOIN users a ON a.id = r.assignee_id`

func scanPrivacyRequest(row pgx.Row) (*PrivacyRequest, error) {
	r := &PrivacyRequest{}
	var ev []byte
	err := row.Scan(&r.ID, &r.Kind, &r.Status, &r.SubjectType, &r.SubjectID, &r.Requester, &r.Source, &r.ReceivedAt, &r.DueAt,
		&r.AssigneeID, &r.AssigneeName, &r.CreatedBy, &r.CompletedBy, &r.CompletedAt, &ev, &r.ConfirmationCode,
		&r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return nil, notFound(err)
	}
	if err := json.Unmarshal(ev, &r.Evidence); err != nil {
		return nil, fmt.Errorf("request %d: evidence does not parse: %w", r.ID, err)
	}
	return r, nil
}

// newConfirmationCode is 192 random bits, unpadded base64url.
func newConfirmationCode() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// CreatePrivacyRequest files a request, due at ReceivedAt + Deadline. A
// kind, subject type, source or assignee that does not exist is ErrInvalid.
func (s *Store) CreatePrivacyRequest(ctx context.Context, in NewPrivacyRequest) (_ *PrivacyRequest, err error) {
	defer wrap(&err, "CreatePrivacyRequest(%s)", in.Kind)
	return s.CreatePrivacyRequestTx(ctx, s.Pool, in)
}

// CreatePrivacyRequestTx is CreatePrivacyRequest in q's transaction, so
// that the caller's audit entry goes with it.
func (s *Store) CreatePrivacyRequestTx(ctx context.Context, q Querier, in NewPrivacyRequest) (_ *PrivacyRequest, err error) {
	defer wrap(&err, "CreatePrivacyRequestTx(%s)", in.Kind)
	if in.Deadline < 0 {
		return nil, fmt.Errorf("%w: the deadline is negative", ErrInvalid)
	}
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = time.Now()
	}
	var code *string
	if in.WithCode {
		c := newConfirmationCode()
		code = &c
	}
	var id int64
	err = q.QueryRow(ctx, `INSERT INTO privacy_requests (kind, subject_type, subject_id, requester, source, received_at, due_at,
			assignee_id, created_by, confirmation_code)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
		WHERE $8::bigint IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = $8 AND disabled_at IS NULL)
		RETURNING id`,
		in.Kind, in.SubjectType, in.SubjectID, in.Requester, in.Source, in.ReceivedAt, in.ReceivedAt.Add(in.Deadline),
		in.AssigneeID, in.CreatedBy, code).Scan(&id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("%w: the assignee is not an active member", ErrInvalid)
	case isCheck(err) || isForeignKey(err):
		return nil, fmt.Errorf("%w: kind, subject type or source", ErrInvalid)
	case err != nil:
		return nil, err
	}
	return scanPrivacyRequest(q.QueryRow(ctx, `SELECT `+privacyRequestCols+privacyRequestFrom+` WHERE r.id = $1`, id))
}

// PrivacyRequest returns a request by id.
func (s *Store) PrivacyRequest(ctx context.Context, id int64) (_ *PrivacyRequest, err error) {
	defer wrap(&err, "PrivacyRequest(%d)", id)
	return scanPrivacyRequest(s.Pool.QueryRow(ctx, `SELECT `+privacyRequestCols+privacyRequestFrom+` WHERE r.id = $1`, id))
}

// PrivacyRequestForUpdate returns a request and locks it until q's
// transaction ends, so that two admins cannot act on it at once.
func (s *Store) PrivacyRequestForUpdate(ctx context.Context, q Querier, id int64) (_ *PrivacyRequest, err error) {
	defer wrap(&err, "PrivacyRequestForUpdate(%d)", id)
	return scanPrivacyRequest(q.QueryRow(ctx, `SELECT `+privacyRequestCols+privacyRequestFrom+` WHERE r.id = $1 FOR UPDATE OF r`, id))
}

// PrivacyRequestByCode returns the request with a confirmation code. The
// lookup goes through the code's unique index, whose timing says nothing
// useful about other codes: they are 192 random bits.
func (s *Store) PrivacyRequestByCode(ctx context.Context, code string) (_ *PrivacyRequest, err error) {
	defer wrap(&err, "PrivacyRequestByCode")
	if code == "" {
		return nil, ErrNotFound
	}
	return scanPrivacyRequest(s.Pool.QueryRow(ctx, `SELECT `+privacyRequestCols+privacyRequestFrom+` WHERE r.confirmation_code = $1`, code))
}

// ClosePrivacyRequest completes or rejects a pending request in q's
// transaction: it records who closed it, when, and the evidence, and
// clears the requester's address. A request already closed is ErrConflict.
func (s *Store) ClosePrivacyRequest(ctx context.Context, q Querier, id int64, status string, by *int64, ev Evidence) (err error) {
	defer wrap(&err, "ClosePrivacyRequest(%d, %s)", id, status)
	if status != RequestCompleted && status != RequestRejected {
		return fmt.Errorf("%w: a request closes as completed or rejected", ErrInvalid)
	}
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	ev.At = ev.At.UTC()
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	tag, err := q.Exec(ctx, `UPDATE privacy_requests SET status = $2, completed_at = now(), completed_by = $3, evidence = $4,
			requester = '', updated_at = now()
		WHERE id = $1 AND status IN ('open', 'in_progress')`, id, status, by, b)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return s.pendingOrNot(ctx, q, id)
	}
	return nil
}

// pendingOrNot explains why a pending request's update changed nothing:
// ErrNotFound, or ErrConflict when it is closed.
func (s *Store) pendingOrNot(ctx context.Context, q Querier, id int64) error {
	var status string
	if err := q.QueryRow(ctx, `SELECT status FROM privacy_requests WHERE id = $1`, id).Scan(&status); err != nil {
		return notFound(err)
	}
	return fmt.Errorf("%w: the request is %s", ErrConflict, status)
}

// SetPrivacyRequestEvidence records evidence on a pending request, such as
// the counts of the last download of an access bundle, which completing it
// keeps.
func (s *Store) SetPrivacyRequestEvidence(ctx context.Context, q Querier, id int64, ev Evidence) (err error) {
	defer wrap(&err, "SetPrivacyRequestEvidence(%d)", id)
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	ev.At = ev.At.UTC()
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	tag, err := q.Exec(ctx, `UPDATE privacy_requests SET evidence = $2, updated_at = now()
		WHERE id = $1 AND status IN ('open', 'in_progress')`, id, b)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return s.pendingOrNot(ctx, q, id)
	}
	return nil
}

// AssignPrivacyRequest gives a pending request to an active member, or to
// nobody (nil). A member who is not active is ErrInvalid.
func (s *Store) AssignPrivacyRequest(ctx context.Context, q Querier, id int64, assignee *int64) (err error) {
	defer wrap(&err, "AssignPrivacyRequest(%d)", id)
	if assignee != nil {
		var ok bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND disabled_at IS NULL)`, *assignee).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: the assignee is not an active member", ErrInvalid)
		}
	}
	tag, err := q.Exec(ctx, `UPDATE privacy_requests SET assignee_id = $2, updated_at = now()
		WHERE id = $1 AND status IN ('open', 'in_progress')`, id, assignee)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return s.pendingOrNot(ctx, q, id)
	}
	return nil
}

// SetPrivacyRequestStatus moves a pending request between open and in
// progress; closing goes through ClosePrivacyRequest.
func (s *Store) SetPrivacyRequestStatus(ctx context.Context, q Querier, id int64, status string) (err error) {
	defer wrap(&err, "SetPrivacyRequestStatus(%d, %s)", id, status)
	if status != RequestOpen && status != RequestInProgress {
		return fmt.Errorf("%w: status is open or in_progress here; complete or reject a request to close it", ErrInvalid)
	}
	tag, err := q.Exec(ctx, `UPDATE privacy_requests SET status = $2, updated_at = now()
		WHERE id = $1 AND status IN ('open', 'in_progress')`, id, status)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return s.pendingOrNot(ctx, q, id)
	}
	return nil
}

// PrivacyRequestFilter chooses requests for the queue.
type PrivacyRequestFilter struct {
	// Status is a status, "pending" (open or in progress), or "" for all.
	Status string
	// Kind is a kind, or "" for all.
	Kind string
	// Overdue keeps pending requests past their due date.
	Overdue bool
	// AssigneeID keeps one member's requests (0: anyone's).
	AssigneeID int64
	// SubjectType and SubjectID keep one subject's requests (both set).
	SubjectType string
	SubjectID   int64
	// After is the cursor of the last request of the previous page ("" for
	// the first page): requests come newest received first.
	After string
	// Limit is at most 100; 0 is 50.
	Limit int
}

// PrivacyRequestPage is a page of the queue, with the cursor of the next
// page ("" when this is the last).
type PrivacyRequestPage struct {
	Requests []*PrivacyRequest `json:"requests"`
	Next     string            `json:"next,omitempty"`
}

// requestCursor is "<received_at unix microseconds>.<id>".
func requestCursor(r *PrivacyRequest) string {
	return strconv.FormatInt(r.ReceivedAt.UnixMicro(), 10) + "." + strconv.FormatInt(r.ID, 10)
}

func parseRequestCursor(s string) (time.Time, int64, error) {
	a, b, ok := strings.Cut(s, ".")
	us, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return time.Time{}, 0, fmt.Errorf("%w: the cursor does not parse", ErrInvalid)
	}
	return time.UnixMicro(us), id, nil
}

// PrivacyRequests lists requests, newest received first, a page at a time.
func (s *Store) PrivacyRequests(ctx context.Context, f PrivacyRequestFilter) (_ *PrivacyRequestPage, err error) {
	defer wrap(&err, "PrivacyRequests")
	if f.Limit <= 0 || f.Limit > 100 {
		f.Limit = 50
	}
	if f.Status != "" && f.Status != "pending" && !contains(RequestStatuses, f.Status) {
		return nil, fmt.Errorf("%w: status is one of pending, %s", ErrInvalid, strings.Join(RequestStatuses, ", "))
	}
	if f.Kind != "" && !contains(RequestKinds, f.Kind) {
		return nil, fmt.Errorf("%w: kind is one of %s", ErrInvalid, strings.Join(RequestKinds, ", "))
	}
	var afterAt *time.Time
	var afterID int64
	if f.After != "" {
		at, id, err := parseRequestCursor(f.After)
		if err != nil {
			return nil, err
		}
		afterAt, afterID = &at, id
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+privacyRequestCols+privacyRequestFrom+`
		WHERE ($1 = '' OR r.status = $1 OR ($1 = 'pending' AND r.status IN ('open', 'in_progress')))
		  AND ($2 = '' OR r.kind = $2)
		  AND (NOT $3 OR (r.status IN ('open', 'in_progress') AND r.due_at < now()))
		  AND ($4 = 0 OR r.assignee_id = $4)
		  AND ($5 = '' OR (r.subject_type = $5 AND r.subject_id = $6))
		  AND ($7::timestamptz IS NULL OR (r.received_at, r.id) < ($7, $8))
		ORDER BY r.received_at DESC, r.id DESC LIMIT $9`,
		f.Status, f.Kind, f.Overdue, f.AssigneeID, f.SubjectType, f.SubjectID, afterAt, afterID, f.Limit+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	page := &PrivacyRequestPage{Requests: []*PrivacyRequest{}}
	for rows.Next() {
		r, err := scanPrivacyRequest(rows)
		if err != nil {
			return nil, err
		}
		page.Requests = append(page.Requests, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(page.Requests) > f.Limit {
		page.Requests = page.Requests[:f.Limit]
		page.Next = requestCursor(page.Requests[f.Limit-1])
	}
	return page, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// PrivacyRequestCounts are the pending requests, how many of them are past
// their due date, and how many are due within DueSoon.
type PrivacyRequestCounts struct {
	Pending int64 `json:"pending"`
	Overdue int64 `json:"overdue"`
	DueSoon int64 `json:"dueSoon"`
}

// CountPrivacyRequests counts the pending requests in one query over the
// pending requests' partial index: the overdue banner and the metrics.
func (s *Store) CountPrivacyRequests(ctx context.Context) (c PrivacyRequestCounts, err error) {
	defer wrap(&err, "CountPrivacyRequests")
	err = s.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE due_at < now()),
			count(*) FILTER (WHERE due_at >= now() AND due_at < now() + $1::interval)
		FROM privacy_requests WHERE status IN ('open', 'in_progress')`, DueSoon).Scan(&c.Pending, &c.Overdue, &c.DueSoon)
	return c, err
}

// OverduePrivacyRequests counts the pending requests past their due date,
// from the pending requests' partial index (the admins' banner).
func (s *Store) OverduePrivacyRequests(ctx context.Context) (n int64, err error) {
	defer wrap(&err, "OverduePrivacyRequests")
	err = s.Pool.QueryRow(ctx, `SELECT count(*) FROM privacy_requests WHERE status IN ('open', 'in_progress') AND due_at < now()`).Scan(&n)
	return n, err
}

// RequestSubjects returns the ids of the contacts a rights request about
// email or phone (one of them; the other "") may be about: those holding
// it among their emails or phones, or as a channel identity. Emails compare
// without case, phone numbers by their digits and leading '+'. It reads
// every contact, which a rights request, filed by hand, can afford.
func (s *Store) RequestSubjects(ctx context.Context, email, phone string) (_ []int64, err error) {
	defer wrap(&err, "RequestSubjects")
	email = strings.ToLower(strings.TrimSpace(email))
	var b strings.Builder
	for i, r := range strings.TrimSpace(phone) {
		if r >= '0' && r <= '9' || r == '+' && i == 0 {
			b.WriteRune(r)
		}
	}
	phone = b.String()
	if email == "" && phone == "" {
		return nil, nil
	}
	rows, err := s.Pool.Query(ctx, `SELECT id FROM contacts
		WHERE ($1 <> '' AND EXISTS (SELECT 1 FROM unnest(emails) e WHERE lower(e) = $1))
		   OR ($2 <> '' AND EXISTS (SELECT 1 FROM unnest(phones) p WHERE regexp_replace(p, '[^0-9+]', '', 'g') = $2))
		UNION
		SELECT contact_id FROM contact_identities
		WHERE ($1 <> '' AND lower(identifier) = $1) OR ($2 <> '' AND regexp_replace(identifier, '[^0-9+]', '', 'g') = $2)
		ORDER BY 1`, email, phone)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
