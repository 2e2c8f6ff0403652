package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

// TestPrivacyRequestQueue: due dates, confirmation codes, the queue's
// filters and keyset paging, the counts, and closing (evidence kept, the
// requester cleared, a second close refused).
func TestPrivacyRequestQueue(t *testing.T) {
	st := storetest.NewDB(t)
	admin, err := st.CreateUser(ctx, st.Pool, &store.User{Email: "admin@x.example", Name: "Admin", Role: "admin", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	c := mustContact(t, st, &store.Contact{Name: "Sam", Emails: []string{"Sam@X.example"}, Phones: []string{"+44 1234 567"}})
	now := time.Now()
	day := 24 * time.Hour
	file := func(kind string, received time.Time, withCode bool, assignee *int64) *store.PrivacyRequest {
		t.Helper()
		r, err := st.CreatePrivacyRequest(ctx, store.NewPrivacyRequest{Kind: kind, SubjectType: "contact", SubjectID: &c.ID, Requester: "sam@x.example",
			Source: "admin", ReceivedAt: received, Deadline: 30 * day, AssigneeID: assignee, CreatedBy: &admin.ID, WithCode: withCode})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	overdue := file("erasure", now.Add(-40*day), true, nil)
	soon := file("access", now.Add(-25*day), false, &admin.ID)
	later := file("objection", now.Add(-time.Hour), false, nil)
	if !overdue.DueAt.Equal(overdue.ReceivedAt.Add(30*day)) || !overdue.Overdue(now) || soon.Overdue(now) || !soon.IsDueSoon(now) || later.IsDueSoon(now) {
		t.Errorf("due dates: %v %v %v", overdue.DueAt, soon.DueAt, later.DueAt)
	}
	if len(overdue.ConfirmationCode) < 22 || soon.ConfirmationCode != "" {
		t.Errorf("codes %q %q", overdue.ConfirmationCode, soon.ConfirmationCode)
	}
	if got, err := st.PrivacyRequestByCode(ctx, overdue.ConfirmationCode); err != nil || got.ID != overdue.ID {
		t.Errorf("by code: %v %v", got, err)
	}
	if _, err := st.PrivacyRequestByCode(ctx, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("by an empty code: %v", err)
	}
	if _, err := st.CreatePrivacyRequest(ctx, store.NewPrivacyRequest{Kind: "forget", SubjectType: "contact", Source: "admin", Deadline: day}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a bad kind: %v", err)
	}
	missing := int64(1 << 40)
	if _, err := st.CreatePrivacyRequest(ctx, store.NewPrivacyRequest{Kind: "access", SubjectType: "contact", Source: "admin", Deadline: day, AssigneeID: &missing}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("an assignee who is no member: %v", err)
	}

	counts, err := st.CountPrivacyRequests(ctx)
	if err != nil || counts != (store.PrivacyRequestCounts{Pending: 3, Overdue: 1, DueSoon: 1}) {
		t.Errorf("counts %+v %v", counts, err)
	}
	ids := func(f store.PrivacyRequestFilter) []int64 {
		t.Helper()
		p, err := st.PrivacyRequests(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, r := range p.Requests {
			out = append(out, r.ID)
		}
		return out
	}
	eq := func(got []int64, want ...int64) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if got[i] != want[i] {
				return false
			}
		}
		return true
	}
	if got := ids(store.PrivacyRequestFilter{}); !eq(got, later.ID, soon.ID, overdue.ID) {
		t.Errorf("all, newest received first: %v", got)
	}
	if got := ids(store.PrivacyRequestFilter{Overdue: true}); !eq(got, overdue.ID) {
		t.Errorf("overdue: %v", got)
	}
	if got := ids(store.PrivacyRequestFilter{Kind: "access"}); !eq(got, soon.ID) {
		t.Errorf("access: %v", got)
	}
	if got := ids(store.PrivacyRequestFilter{AssigneeID: admin.ID}); !eq(got, soon.ID) {
		t.Errorf("the admin's: %v", got)
	}
	p1, err := st.PrivacyRequests(ctx, store.PrivacyRequestFilter{Limit: 2})
	if err != nil || len(p1.Requests) != 2 || p1.Next == "" {
		t.Fatalf("page 1: %+v %v", p1, err)
	}
	if got := ids(store.PrivacyRequestFilter{Limit: 2, After: p1.Next}); !eq(got, overdue.ID) {
		t.Errorf("page 2: %v", got)
	}
	if _, err := st.PrivacyRequests(ctx, store.PrivacyRequestFilter{After: "x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a bad cursor: %v", err)
	}
	if _, err := st.PrivacyRequests(ctx, store.PrivacyRequestFilter{Status: "done"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a bad status: %v", err)
	}

	ev := store.Evidence{Action: "erased", Counts: map[string]int64{"contacts": 1}}
	if err := st.ClosePrivacyRequest(ctx, st.Pool, overdue.ID, "completed", &admin.ID, ev); err != nil {
		t.Fatal(err)
	}
	got, _ := st.PrivacyRequest(ctx, overdue.ID)
	if got.Status != "completed" || got.Requester != "" || got.CompletedAt == nil || got.Evidence.Counts["contacts"] != 1 || got.Evidence.At.IsZero() {
		t.Errorf("closed %+v", got)
	}
	if err := st.ClosePrivacyRequest(ctx, st.Pool, overdue.ID, "rejected", &admin.ID, store.Evidence{}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("closing twice: %v", err)
	}
	if err := st.AssignPrivacyRequest(ctx, st.Pool, overdue.ID, nil); !errors.Is(err, store.ErrConflict) {
		t.Errorf("assigning a closed request: %v", err)
	}
	if err := st.SetPrivacyRequestStatus(ctx, st.Pool, soon.ID, "completed"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("completing through the status: %v", err)
	}
	if counts, _ := st.CountPrivacyRequests(ctx); counts != (store.PrivacyRequestCounts{Pending: 2, DueSoon: 1}) {
		t.Errorf("counts after closing: %+v", counts)
	}

	// Subjects by email without case, by phone by its digits.
	for _, tc := range []struct{ email, phone string }{{"sam@x.EXAMPLE", ""}, {"", "+441234567"}, {"", "+44 (1234) 567"}} {
		if got, err := st.RequestSubjects(ctx, tc.email, tc.phone); err != nil || len(got) != 1 || got[0] != c.ID {
			t.Errorf("RequestSubjects(%q, %q) = %v, %v", tc.email, tc.phone, got, err)
		}
	}
	if got, _ := st.RequestSubjects(ctx, "nobody@x.example", ""); len(got) != 0 {
		t.Errorf("an unknown email found %v", got)
	}
}
