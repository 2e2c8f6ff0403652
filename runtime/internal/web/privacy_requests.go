package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

// defaultDeadline is a rights request's deadline when the operator passes
// none (the built-in RetentionPolicy's).
const defaultDeadline = 30 * 24 * time.Hour

// parseDeadline reads a RetentionPolicy duration: whole days ("30d"), a Go
// duration ("720h", "90m"), or days then a Go duration ("1d12h"). It must
// be positive. "" is the default, 30 days.
func parseDeadline(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return defaultDeadline, nil
	}
	var d time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		days, err := strconv.ParseUint(s[:i], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("deadline %q: want days as 30d, or hours as 720h", s)
		}
		d, rest = time.Duration(days)*24*time.Hour, s[i+1:]
	}
	if rest != "" {
		more, err := time.ParseDuration(rest)
		if err != nil || more < 0 {
			return 0, fmt.Errorf("deadline %q: want days as 30d, or hours as 720h", s)
		}
		d += more
	}
	if d <= 0 {
		return 0, fmt.Errorf("deadline %q: want a positive duration", s)
	}
	return d, nil
}

// requestDeadline is how long the workspace has to answer a request.
func (s *Server) requestDeadline() (time.Duration, error) {
	d, err := parseDeadline(s.Retention.DSRDeadline)
	if err != nil {
		return 0, errStatus(http.StatusInternalServerError, "deadline_invalid",
			"The RetentionPolicy's rights-request %s; ask the platform team to correct it.", err.Error())
	}
	return d, nil
}

// errRequestNoLedger refuses an erasure without the erasure ledger: a
// restored backup would bring the subject back.
var errRequestNoLedger = errStatus(http.StatusServiceUnavailable, "ledger_unavailable",
	"Erasures cannot be made now: the erasure ledger is not available, and an erasure without it would come back with a restored backup.")

// rejectReasons are the reason codes a request may be rejected with.
var rejectReasons = []string{"identity_not_verified", "manifestly_unfounded", "excessive", "no_data", "duplicate", "legal_obligation"}

// rectifiable are the fields whose names a rectification's evidence may
// list, per subject type.
var rectifiable = map[string][]string{
	store.SubjectContact: {"name", "emails", "phones", "address", "company", "tags", "custom"},
	store.SubjectMember:  {"name", "email"},
}

// requestKindNames are the kinds as pages name them.
var requestKindNames = map[string]string{
	store.RequestAccess: "Access", store.RequestRectification: "Rectification", store.RequestErasure: "Erasure",
	store.RequestRestriction: "Restriction", store.RequestObjection: "Objection", store.RequestPortability: "Portability",
}

// requestStatusNames are the statuses as pages name them.
var requestStatusNames = map[string]string{
	store.RequestOpen: "Open", store.RequestInProgress: "In progress", store.RequestCompleted: "Completed", store.RequestRejected: "Rejected",
}

// subjectQuery names a request's subject: a contact by email, phone or
// id, or a member by id.
type subjectQuery struct {
	Type  string `json:"type"`
	ID    int64  `json:"id,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// findSubject returns the id of the subject q names. Its errors are about
// the form field field.
func (s *Server) findSubject(ctx context.Context, q subjectQuery, field string) (int64, error) {
	switch q.Type {
	case store.SubjectMember:
		if q.ID <= 0 {
			return 0, fieldError(field, "Choose a member.")
		}
		if _, err := s.CRM.Store.UserByID(ctx, q.ID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return 0, fieldError(field, "No member has id %d.", q.ID)
			}
			return 0, err
		}
		return q.ID, nil
	case store.SubjectContact:
	default:
		return 0, fieldError(field, "The subject is a contact or a member.")
	}
	given := 0
	for _, v := range []bool{q.ID != 0, q.Email != "", q.Phone != ""} {
		if v {
			given++
		}
	}
	if given != 1 {
		return 0, fieldError(field, "Find the contact by one of email, phone or id.")
	}
	if q.ID != 0 {
		if q.ID < 0 {
			return 0, fieldError(field, "A contact id is a positive number.")
		}
		if _, err := s.CRM.Store.ContactByID(ctx, nil, q.ID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return 0, fieldError(field, "No contact has id %d.", q.ID)
			}
			return 0, err
		}
		return q.ID, nil
	}
	what := "email address"
	if q.Email == "" {
		what = "phone number"
	}
	found, err := s.CRM.Store.RequestSubjects(ctx, q.Email, q.Phone)
	if err != nil {
		return 0, err
	}
	switch len(found) {
	case 0:
		return 0, fieldError(field, "No contact has this %s.", what)
	case 1:
		return found[0], nil
	}
	return 0, fieldError(field, "%d contacts have this %s: find the contact by id.", len(found), what)
}

// newRequest is a request to file, as a form or the API gives it.
type newRequest struct {
	Kind       string
	Subject    subjectQuery
	Requester  string
	ReceivedAt time.Time
	AssigneeID *int64
	Source     string
}

// fileRequest files a request, due at its receipt plus the deadline, with
// its "privacy_request.created" audit entry. Its errors name the field:
// kind, subject, requester, received or assignee.
func (s *Server) fileRequest(ctx context.Context, actor *int64, in newRequest) (*store.PrivacyRequest, error) {
	if !slices.Contains(store.RequestKinds, in.Kind) {
		return nil, fieldError("kind", "Choose a kind: %s.", strings.Join(store.RequestKinds, ", "))
	}
	if (in.Kind == store.RequestRestriction || in.Kind == store.RequestObjection) && in.Subject.Type != store.SubjectContact {
		return nil, fieldError("subject", "A %s request is about a contact.", in.Kind)
	}
	id, err := s.findSubject(ctx, in.Subject, "subject")
	if err != nil {
		return nil, err
	}
	in.Requester = strings.TrimSpace(in.Requester)
	if in.Requester != "" && (len(in.Requester) > 254 || !strings.Contains(in.Requester, "@") || strings.ContainsAny(in.Requester, " \t\r\n<>")) {
		return nil, fieldError("requester", "Give the requester's email address, or leave it empty.")
	}
	now := time.Now()
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = now
	}
	if in.ReceivedAt.After(now.Add(time.Minute)) {
		return nil, fieldError("received", "The request cannot be received in the future.")
	}
	deadline, err := s.requestDeadline()
	if err != nil {
		return nil, err
	}
	var out *store.PrivacyRequest
	err = s.CRM.Store.Transact(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = s.CRM.Store.CreatePrivacyRequestTx(ctx, tx, store.NewPrivacyRequest{Kind: in.Kind, SubjectType: in.Subject.Type, SubjectID: &id,
			Requester: in.Requester, Source: in.Source, ReceivedAt: in.ReceivedAt, Deadline: deadline, AssigneeID: in.AssigneeID, CreatedBy: actor})
		if errors.Is(err, store.ErrInvalid) && in.AssigneeID != nil {
			return fieldError("assignee", "The assignee is not an active member.")
		}
		if err != nil {
			return err
		}
		return s.CRM.Store.Audit(ctx, tx, actor, "user", "privacy_request.created", "privacy_request", out.ID)
	})
	return out, err
}

// pathRequest returns the request whose id is in the path.
func (s *Server) pathRequest(r *http.Request) (*store.PrivacyRequest, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.CRM.Store.PrivacyRequest(r.Context(), id)
}

// completion is what an admin gives to complete a request: the
// confirmation of an erasure, the fields a rectification changed.
type completion struct {
	Confirm bool
	Fields  []string
}

// errClosed answers an action on a request that is closed already.
func errClosed(req *store.PrivacyRequest) error {
	return errStatus(http.StatusConflict, "closed", "The request is %s already.", requestStatusNames[req.Status])
}

// completeRequest runs the request's action and closes it as completed, in
// one transaction with its evidence and audit entries (ids only):
//   - erasure: privacy.Erase with the ledger (confirm required); evidence
//     counts are the rows erased per table;
//   - access and portability: the bundle must have been downloaded; the
//     evidence is that download's counts and time;
//   - restriction and objection: the contact's processing is restricted,
//     or marketing opted out, with a consent event (source "request");
//   - rectification: the names of the fields that were corrected.
func (s *Server) completeRequest(ctx context.Context, actor *int64, id int64, c completion) (*store.PrivacyRequest, error) {
	st := s.CRM.Store
	err := st.Transact(ctx, func(tx pgx.Tx) error {
		req, err := st.PrivacyRequestForUpdate(ctx, tx, id)
		if err != nil {
			return err
		}
		if !req.Pending() {
			return errClosed(req)
		}
		if req.SubjectID == nil {
			return fieldError("confirm", "The request names no subject: reject it, or file a new one that does.")
		}
		sid := *req.SubjectID
		ev := store.Evidence{At: time.Now()}
		switch req.Kind {
		case store.RequestErasure:
			if !c.Confirm {
				return fieldError("confirm", "Confirm the erasure: it cannot be undone.")
			}
			if s.Ledger == nil {
				return errRequestNoLedger
			}
			entry := privacy.Entry{Kind: privacy.KindContact, SubjectID: sid, RequestID: fmt.Sprintf("privacy-request-%d", id)}
			action, object := "contact.erased", "contact"
			if req.SubjectType == store.SubjectMember {
				entry.Kind, action, object = privacy.KindMember, "user.erased", "user"
			}
			counts, err := privacy.Erase(ctx, tx, s.Ledger, entry)
			if errors.Is(err, privacy.ErrLastOwner) {
				return fieldError("confirm", "%s", err.Error())
			}
			if err != nil {
				return err
			}
			ev.Action, ev.Counts = "erased", map[string]int64(counts)
			if err := st.Audit(ctx, tx, actor, "user", action, object, sid); err != nil {
				return err
			}
		case store.RequestAccess, store.RequestPortability:
			if req.Evidence.Action != "exported" {
				return fieldError("confirm", "Download the bundle first: completing the request records that download.")
			}
			ev = req.Evidence
		case store.RequestRestriction, store.RequestObjection:
			yes := true
			consent := store.Consent{Source: "request", ActorID: actor, RequestID: &id}
			flag := "contacts.processing_restricted"
			ev.Action = "restricted"
			if req.Kind == store.RequestObjection {
				consent.MarketingOptOut, flag, ev.Action = &yes, "contacts.marketing_opt_out", "opted_out"
			} else {
				consent.ProcessingRestricted = &yes
			}
			before, err := st.ContactByID(ctx, tx, sid)
			if errors.Is(err, store.ErrNotFound) {
				return fieldError("confirm", "The contact no longer exists: reject the request with the reason no_data.")
			}
			if err != nil {
				return err
			}
			after, err := st.SetContactConsent(ctx, tx, sid, consent)
			if err != nil {
				return err
			}
			changed := int64(0)
			if before.ProcessingRestricted != after.ProcessingRestricted || before.MarketingOptOut != after.MarketingOptOut {
				changed = 1
			}
			ev.Counts = map[string]int64{flag: changed, "consent_events": changed}
			if changed == 0 {
				ev.Note = "already in place"
			}
			if err := st.Audit(ctx, tx, actor, "user", "contact.consent_changed", "contact", sid); err != nil {
				return err
			}
		case store.RequestRectification:
			allowed := rectifiable[req.SubjectType]
			if len(c.Fields) == 0 {
				return fieldError("fields", "Tick the fields that were corrected, or reject the request.")
			}
			for _, f := range c.Fields {
				if !slices.Contains(allowed, f) {
					return fieldError("fields", "A %s's corrected fields are among %s.", req.SubjectType, strings.Join(allowed, ", "))
				}
			}
			fields := slices.Clone(c.Fields)
			slices.Sort(fields)
			ev.Action, ev.Fields = "rectified", slices.Compact(fields)
		}
		if err := st.ClosePrivacyRequest(ctx, tx, id, store.RequestCompleted, actor, ev); err != nil {
			return err
		}
		return st.Audit(ctx, tx, actor, "user", "privacy_request.completed", "privacy_request", id)
	})
	if err != nil {
		return nil, err
	}
	return st.PrivacyRequest(ctx, id)
}

// rejectRequest closes a request as rejected with a reason code.
func (s *Server) rejectRequest(ctx context.Context, actor *int64, id int64, reason string) (*store.PrivacyRequest, error) {
	if !slices.Contains(rejectReasons, reason) {
		return nil, fieldError("reason", "Choose a reason: %s.", strings.Join(rejectReasons, ", "))
	}
	st := s.CRM.Store
	err := st.Transact(ctx, func(tx pgx.Tx) error {
		req, err := st.PrivacyRequestForUpdate(ctx, tx, id)
		if err != nil {
			return err
		}
		if !req.Pending() {
			return errClosed(req)
		}
		if err := st.ClosePrivacyRequest(ctx, tx, id, store.RequestRejected, actor, store.Evidence{Action: "rejected", Reason: reason}); err != nil {
			return err
		}
		return st.Audit(ctx, tx, actor, "user", "privacy_request.rejected", "privacy_request", id)
	})
	if err != nil {
		return nil, err
	}
	return st.PrivacyRequest(ctx, id)
}

// updateRequest assigns a pending request (assign set; nil assignee
// unassigns) and moves it between open and in progress (status not "").
func (s *Server) updateRequest(ctx context.Context, actor *int64, id int64, assign bool, assignee *int64, status string) (*store.PrivacyRequest, error) {
	st := s.CRM.Store
	err := st.Transact(ctx, func(tx pgx.Tx) error {
		req, err := st.PrivacyRequestForUpdate(ctx, tx, id)
		if err != nil {
			return err
		}
		if !req.Pending() {
			return errClosed(req)
		}
		if assign {
			if err := st.AssignPrivacyRequest(ctx, tx, id, assignee); errors.Is(err, store.ErrInvalid) {
				return fieldError("assignee", "The assignee is not an active member.")
			} else if err != nil {
				return err
			}
			if err := st.Audit(ctx, tx, actor, "user", "privacy_request.assigned", "privacy_request", id); err != nil {
				return err
			}
		}
		if status != "" {
			if status != store.RequestOpen && status != store.RequestInProgress {
				return fieldError("status", "The status is open or in_progress; complete or reject a request to close it.")
			}
			if err := st.SetPrivacyRequestStatus(ctx, tx, id, status); err != nil {
				return err
			}
			if err := st.Audit(ctx, tx, actor, "user", "privacy_request.status_changed", "privacy_request", id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st.PrivacyRequest(ctx, id)
}

// requestsBannerData tells an admin's pages how many rights requests are
// overdue (one count over the pending requests' index). A failure leaves
// the banner out rather than failing the page.
func (s *Server) requestsBannerData(r *http.Request, data map[string]any) {
	u := currentUser(r)
	if u == nil || s.CRM == nil || !auth.Role(u.Role).AtLeast(auth.Admin) {
		return
	}
	n, err := s.CRM.Store.OverduePrivacyRequests(r.Context())
	if err != nil {
		s.Log.Warn("counting overdue rights requests for the banner failed", "error", err.Error())
		return
	}
	data["OverdueRequests"] = n
}

// requestsCollector reports the pending and overdue rights requests at
// each scrape, from one count over the pending requests' index.
type requestsCollector struct {
	st               *store.Store
	pending, overdue *prometheus.Desc
	log              func(msg string, args ...any)
}

func newRequestsCollector(s *Server) *requestsCollector {
	return &requestsCollector{
		st:      s.CRM.Store,
		pending: prometheus.NewDesc("switchboard_runtime_privacy_requests_open", "Rights requests open or in progress.", nil, nil),
		overdue: prometheus.NewDesc("switchboard_runtime_privacy_requests_overdue", "Rights requests open or in progress past their due date.", nil, nil),
		log:     s.Log.Warn,
	}
}

func (c *requestsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.pending; ch <- c.overdue }

func (c *requestsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.st.CountPrivacyRequests(ctx)
	if err != nil {
		c.log("counting rights requests for the metrics failed", "error", err.Error())
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n.Pending))
	ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(n.Overdue))
}
