package web

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

func TestParseDeadline(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"", 30 * 24 * time.Hour, false},
		{"30d", 30 * 24 * time.Hour, false},
		{" 7d ", 7 * 24 * time.Hour, false},
		{"720h", 720 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"90m", 90 * time.Minute, false},
		{"0d", 0, true},
		{"-1d", 0, true},
		{"d", 0, true},
		{"thirty days", 0, true},
		{"30", 0, true},
		{"30days", 0, true},
		{"1d-2h", 0, true},
	} {
		got, err := parseDeadline(tc.in)
		if tc.bad != (err != nil) || got != tc.want {
			t.Errorf("parseDeadline(%q) = %v, %v; want %v (error: %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

// requestID reads the id from a /requests/{id} redirect.
func requestID(t *testing.T, resp *http.Response) int64 {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d, want 303: %s", resp.StatusCode, b)
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(resp.Header.Get("Location"), "/requests/"), 10, 64)
	if err != nil {
		t.Fatalf("redirected to %q", resp.Header.Get("Location"))
	}
	return id
}

// errorField is the field a JSON error names.
func jsonErrorField(t *testing.T, resp *http.Response) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message, Field string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	return e.Error.Field
}

// TestErasureRequestEndToEnd files an erasure request for the seeded
// contact (found by phone) through the admin pages, received 40 days ago so
// that it is overdue under a 30-day deadline; checks the due date, the
// banner and the metrics; erases with confirmation; and checks the
// evidence, the ledger, the audit log and the logs for personal data, and
// that the same person writing in again starts as a new contact.
func TestErasureRequestEndToEnd(t *testing.T) {
	f := newFixture(t)
	ledger := f.withLedger(t)
	var logs bytes.Buffer
	f.srv.Log = slog.New(slog.NewTextHandler(&logs, nil))
	f.srv.Retention.DSRDeadline = "30d"
	ctx := bg
	contact, err := f.st.ContactByID(ctx, nil, mustConvContact(t, f))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Pool.Exec(ctx, `UPDATE contacts SET emails = '{ada@analytical.example}' WHERE id = $1`, contact.ID); err != nil {
		t.Fatal(err)
	}
	received := time.Now().AddDate(0, 0, -40)
	day := received.UTC().Format(time.DateOnly) // the members have no zone: UTC

	// Agents may not see the queue.
	if resp := f.do(auth.Agent, "GET", "/requests", nil, false); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an agent got /requests: %d", resp.StatusCode)
	}
	// No contact with this email: a field error.
	resp := f.do(auth.Admin, "POST", "/requests", url.Values{"kind": {"erasure"}, "subject_by": {"email"}, "subject": {"nobody@example.org"}}, false)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body(t, resp), "No contact has this email address") {
		t.Errorf("an unknown email: %d", resp.StatusCode)
	}
	resp = f.do(auth.Admin, "POST", "/requests", url.Values{"kind": {"erasure"}, "subject_by": {"email"}, "subject": {"ada@analytical.example"},
		"requester": {"ada@analytical.example"}, "received": {day}}, false)
	id := requestID(t, resp)
	req, err := f.st.PrivacyRequest(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if req.SubjectID == nil || *req.SubjectID != contact.ID || req.SubjectType != "contact" || req.Source != "admin" || req.Status != "open" {
		t.Fatalf("filed %+v", req)
	}
	if d := req.DueAt.Sub(req.ReceivedAt); d != 30*24*time.Hour {
		t.Errorf("due %v after receipt, want 30 days", d)
	}
	if req.ReceivedAt.Format(time.DateOnly) > day || !req.Overdue(time.Now()) {
		t.Errorf("received %v, due %v: want overdue", req.ReceivedAt, req.DueAt)
	}

	// The banner shows to admins on every page, and the metrics count it.
	if b := body(t, f.do(auth.Admin, "GET", "/inbox", nil, false)); !strings.Contains(b, `data-testid="requests-overdue"`) || !strings.Contains(b, "1 rights request is overdue") {
		t.Error("the admin's inbox has no overdue banner")
	}
	if b := body(t, f.do(auth.Agent, "GET", "/inbox", nil, false)); strings.Contains(b, "requests-overdue") {
		t.Error("an agent sees the overdue banner")
	}
	if n, err := testutil.GatherAndCount(f.srv.Registry, "switchboard_runtime_privacy_requests_overdue"); err != nil || n != 1 {
		t.Fatalf("metrics: %d, %v", n, err)
	}
	if err := testutil.GatherAndCompare(f.srv.Registry, strings.NewReader(`
# HELP switchboard_runtime_privacy_requests_open Rights requests open or in progress.
# TYPE switchboard_runtime_privacy_requests_open gauge
switchboard_runtime_privacy_requests_open 1
# HELP switchboard_runtime_privacy_requests_overdue Rights requests open or in progress past their due date.
# TYPE switchboard_runtime_privacy_requests_overdue gauge
switchboard_runtime_privacy_requests_overdue 1
`), "switchboard_runtime_privacy_requests_open", "switchboard_runtime_privacy_requests_overdue"); err != nil {
		t.Error(err)
	}
	list := body(t, f.do(auth.Admin, "GET", "/requests", nil, false))
	if !strings.Contains(list, fmt.Sprintf(`class="overdue" data-testid="request-row" data-request="%d"`, id)) {
		t.Error("the queue does not show the request as overdue")
	}

	// Erasing needs the confirmation.
	resp = f.do(auth.Admin, "POST", fmt.Sprintf("/requests/%d/complete", id), nil, false)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body(t, resp), "Confirm the erasure") {
		t.Errorf("erasing without confirmation: %d", resp.StatusCode)
	}
	start := time.Now().Add(-time.Second)
	resp = f.do(auth.Admin, "POST", fmt.Sprintf("/requests/%d/complete", id), url.Values{"confirm": {"yes"}}, false)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("erasing: %d %s", resp.StatusCode, body(t, resp))
	}
	req, _ = f.st.PrivacyRequest(ctx, id)
	if req.Status != "completed" || req.CompletedAt == nil || req.CompletedBy == nil || *req.CompletedBy != f.users[auth.Admin].ID || req.Requester != "" {
		t.Errorf("completed request %+v", req)
	}
	if req.Evidence.Action != "erased" || req.Evidence.Counts["contacts"] != 1 || req.Evidence.Counts["conversations"] != 1 || req.Evidence.Counts["messages"] < 1 {
		t.Errorf("evidence %+v", req.Evidence)
	}
	if _, err := f.st.ContactByID(ctx, nil, contact.ID); err != store.ErrNotFound {
		t.Errorf("the contact is still there: %v", err)
	}
	entries, err := ledger.Since(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Kind != privacy.KindContact || entries[0].SubjectID != contact.ID || entries[0].RequestID != fmt.Sprintf("privacy-request-%d", id) {
		t.Errorf("ledger entries %+v", entries)
	}
	if n, _ := testutil.GatherAndCount(f.srv.Registry, "switchboard_runtime_privacy_requests_overdue"); n != 1 {
		t.Errorf("metric series: %d", n)
	}
	if b := body(t, f.do(auth.Admin, "GET", "/inbox", nil, false)); strings.Contains(b, "requests-overdue") {
		t.Error("the banner stays after the request is completed")
	}
	show := body(t, f.do(auth.Admin, "GET", fmt.Sprintf("/requests/%d", id), nil, false))
	if !strings.Contains(show, `data-testid="request-status">Completed<`) || !strings.Contains(show, "(no longer exists)") {
		t.Errorf("the request page does not show it completed with its subject gone:\n%s", show)
	}

	// No personal data in the evidence, the audit log or the logs.
	var ev, audit string
	if err := f.st.Pool.QueryRow(ctx, `SELECT evidence::text FROM privacy_requests WHERE id = $1`, id).Scan(&ev); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Pool.QueryRow(ctx, `SELECT coalesce(string_agg(a::text, ' '), '') FROM audit_log a`).Scan(&audit); err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{"Ada", "Lovelace", "ada@analytical.example", "+15550100", "15550100", "Hello there"} {
		for what, s := range map[string]string{"evidence": ev, "audit log": audit, "logs": logs.String()} {
			if strings.Contains(s, needle) {
				t.Errorf("the %s holds %q", what, needle)
			}
		}
	}
	if !strings.Contains(audit, "privacy_request.completed") || !strings.Contains(audit, "contact.erased") {
		t.Errorf("audit log: %s", audit)
	}

	// Re-appearance: the same person writes in again and starts afresh.
	res, err := f.srv.Inbox.Ingest(ctx, inbox.Inbound{Channel: "api", Identifier: "+15550100", ContactName: "Ada Lovelace", ExternalID: "seed-2", Body: "Me again"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Conversation.ContactID == contact.ID {
		t.Fatal("the erased contact's id came back")
	}
	again, err := f.st.ContactByID(ctx, nil, res.Conversation.ContactID)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Emails) != 0 {
		t.Errorf("the new contact has the old one's emails: %v", again.Emails)
	}
	var msgs int
	if err := f.st.Pool.QueryRow(ctx, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = $1`, again.ID).Scan(&msgs); err != nil {
		t.Fatal(err)
	}
	if msgs != 1 {
		t.Errorf("the new contact has %d messages, want only the new one", msgs)
	}
}

// mustConvContact is the fixture's seeded conversation's contact.
func mustConvContact(t *testing.T, f *fixture) int64 {
	t.Helper()
	var id int64
	if err := f.st.Pool.QueryRow(bg, `SELECT contact_id FROM conversations WHERE id = $1`, f.convID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// apiRequest files a request through the API and returns it.
func apiRequest(t *testing.T, f *fixture, body string) *store.PrivacyRequest {
	t.Helper()
	resp := f.api(auth.Admin, "POST", "/api/v1/privacy-requests", body)
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("filing %s: %d %s", body, resp.StatusCode, b)
	}
	var out struct{ Request *store.PrivacyRequest }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Request
}

func apiComplete(t *testing.T, f *fixture, id int64, body string, want int) *store.PrivacyRequest {
	t.Helper()
	resp := f.api(auth.Admin, "POST", fmt.Sprintf("/api/v1/privacy-requests/%d/complete", id), body)
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("completing %d: %d %s, want %d", id, resp.StatusCode, b, want)
	}
	if want != http.StatusOK {
		return nil
	}
	var out struct{ Request *store.PrivacyRequest }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Request
}

// TestPrivacyRequestKindsThroughAPI runs every kind through the API:
// access (download, then complete), portability of a member, restriction
// and objection (consent events, MarketingAllowed), rectification (field
// names), rejection, member erasure and the last owner.
func TestPrivacyRequestKindsThroughAPI(t *testing.T) {
	f := newFixture(t)
	f.withLedger(t)
	f.srv.Retention.DSRDeadline = "10d"
	ctx := bg
	cid := mustConvContact(t, f)

	if resp := f.api(auth.Agent, "GET", "/api/v1/privacy-requests", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an agent listed requests: %d", resp.StatusCode)
	}
	for body, field := range map[string]string{
		`{"kind": "forget", "subject": {"type": "contact", "id": 1}}`:                                "kind",
		`{"kind": "access", "subject": {"type": "contact"}}`:                                         "subject",
		`{"kind": "access", "subject": {"type": "contact", "phone": "+15550100", "id": 3}}`:          "subject",
		`{"kind": "restriction", "subject": {"type": "member", "id": 1}}`:                            "subject",
		`{"kind": "access", "subject": {"type": "contact", "phone": "+15550100"}, "requester": "x"}`: "requester",
	} {
		if resp := f.api(auth.Admin, "POST", "/api/v1/privacy-requests", body); resp.StatusCode != http.StatusBadRequest || jsonErrorField(t, resp) != field {
			t.Errorf("%s: %d, want 400 about %s", body, resp.StatusCode, field)
		}
	}

	// Access: the bundle first, then completion records its counts.
	received := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	acc := apiRequest(t, f, fmt.Sprintf(`{"kind": "access", "subject": {"type": "contact", "phone": "+15550100"}, "receivedAt": %q}`, received.Format(time.RFC3339)))
	if acc.Source != "api" || !acc.ReceivedAt.Equal(received) || !acc.DueAt.Equal(received.Add(10*24*time.Hour)) {
		t.Errorf("access request %+v", acc)
	}
	apiComplete(t, f, acc.ID, `{}`, http.StatusBadRequest) // nothing downloaded yet
	resp := f.api(auth.Admin, "GET", fmt.Sprintf("/api/v1/privacy-requests/%d/export", acc.ID), "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("export: %d %v", resp.StatusCode, resp.Header)
	}
	zb, _ := io.ReadAll(resp.Body)
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	if err != nil {
		t.Fatalf("the bundle is no zip: %v", err)
	}
	if len(zr.File) == 0 {
		t.Error("the bundle is empty")
	}
	done := apiComplete(t, f, acc.ID, `{}`, http.StatusOK)
	if done.Status != "completed" || done.Evidence.Action != "exported" || done.Evidence.Counts["contact.json"] != 1 || done.Evidence.Counts["messages.jsonl"] != 1 || done.Evidence.At.IsZero() {
		t.Errorf("access evidence %+v", done.Evidence)
	}
	apiComplete(t, f, acc.ID, `{}`, http.StatusConflict) // closed already

	// Objection, then restriction: consent events with source request.
	obj := apiRequest(t, f, fmt.Sprintf(`{"kind": "objection", "subject": {"type": "contact", "id": %d}}`, cid))
	if ok, err := privacy.MarketingAllowed(ctx, f.st.Pool, cid); err != nil || !ok {
		t.Fatalf("marketing allowed before the objection: %v %v", ok, err)
	}
	done = apiComplete(t, f, obj.ID, `{}`, http.StatusOK)
	if done.Evidence.Action != "opted_out" || done.Evidence.Counts["consent_events"] != 1 {
		t.Errorf("objection evidence %+v", done.Evidence)
	}
	if ok, _ := privacy.MarketingAllowed(ctx, f.st.Pool, cid); ok {
		t.Error("marketing is allowed after the objection")
	}
	res := apiRequest(t, f, fmt.Sprintf(`{"kind": "restriction", "subject": {"type": "contact", "id": %d}}`, cid))
	done = apiComplete(t, f, res.ID, `{}`, http.StatusOK)
	if done.Evidence.Action != "restricted" || done.Evidence.Counts["contacts.processing_restricted"] != 1 {
		t.Errorf("restriction evidence %+v", done.Evidence)
	}
	events, err := f.st.ConsentEvents(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Kind != "restricted" || events[1].Kind != "marketing_opt_out" {
		t.Fatalf("consent events %+v", events)
	}
	for i, want := range []int64{res.ID, obj.ID} {
		e := events[i]
		if e.Source != "request" || e.RequestID == nil || *e.RequestID != want || e.ActorID == nil || *e.ActorID != f.users[auth.Admin].ID {
			t.Errorf("consent event %+v, want request %d by the admin", e, want)
		}
	}
	if c, _ := f.st.ContactByID(ctx, nil, cid); !c.ProcessingRestricted || !c.MarketingOptOut {
		t.Errorf("contact flags %+v", c)
	}
	// The consent form records the agent's change, as agent.
	if resp := f.do(auth.Agent, "POST", fmt.Sprintf("/contacts/%d/consent", cid), url.Values{"marketing_opt_out": {"on"}}, false); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("lifting the restriction: %d", resp.StatusCode)
	}
	events, _ = f.st.ConsentEvents(ctx, cid)
	if len(events) != 3 || events[0].Kind != "unrestricted" || events[0].Source != "agent" || events[0].RequestID != nil {
		t.Errorf("after the form: %+v", events)
	}
	// The API records its change as api.
	if resp := f.api(auth.Agent, "POST", fmt.Sprintf("/api/v1/contacts/%d/consent", cid), `{"marketingOptOut": false}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("opting in through the API: %d", resp.StatusCode)
	}
	if resp := f.api(auth.Agent, "POST", fmt.Sprintf("/api/v1/contacts/%d/consent", cid), `{}`); resp.StatusCode != http.StatusBadRequest || jsonErrorField(t, resp) != "marketingOptOut" {
		t.Errorf("an empty consent change: %d", resp.StatusCode)
	}
	events, _ = f.st.ConsentEvents(ctx, cid)
	if len(events) != 4 || events[0].Kind != "marketing_opt_in" || events[0].Source != "api" || events[0].ActorID == nil || *events[0].ActorID != f.users[auth.Agent].ID {
		t.Errorf("after the API: %+v", events)
	}
	if ok, _ := privacy.MarketingAllowed(ctx, f.st.Pool, cid); !ok {
		t.Error("marketing is not allowed after opting in again")
	}

	// Rectification: names of fields only.
	rec := apiRequest(t, f, fmt.Sprintf(`{"kind": "rectification", "subject": {"type": "contact", "id": %d}, "requester": "someone@example.org"}`, cid))
	if rec.Requester != "someone@example.org" {
		t.Errorf("requester %q", rec.Requester)
	}
	apiComplete(t, f, rec.ID, `{"fields": ["name", "password"]}`, http.StatusBadRequest)
	done = apiComplete(t, f, rec.ID, `{"fields": ["phones", "name", "name"]}`, http.StatusOK)
	if done.Evidence.Action != "rectified" || strings.Join(done.Evidence.Fields, ",") != "name,phones" || done.Requester != "" {
		t.Errorf("rectification %+v", done)
	}

	// Assign, status, reject.
	rej := apiRequest(t, f, fmt.Sprintf(`{"kind": "portability", "subject": {"type": "member", "id": %d}}`, f.users[auth.Agent].ID))
	resp = f.api(auth.Admin, "PATCH", fmt.Sprintf("/api/v1/privacy-requests/%d", rej.ID), fmt.Sprintf(`{"assigneeId": %d, "status": "in_progress"}`, f.users[auth.Admin].ID))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("assigning: %d %s", resp.StatusCode, body(t, resp))
	}
	got, _ := f.st.PrivacyRequest(ctx, rej.ID)
	if got.AssigneeID == nil || *got.AssigneeID != f.users[auth.Admin].ID || got.Status != "in_progress" || got.AssigneeName != "Admin" {
		t.Errorf("assigned %+v", got)
	}
	page := f.api(auth.Admin, "GET", fmt.Sprintf("/api/v1/privacy-requests?status=pending&assignee=%d", f.users[auth.Admin].ID), "")
	var listed store.PrivacyRequestPage
	if err := json.NewDecoder(page.Body).Decode(&listed); err != nil || len(listed.Requests) != 1 || listed.Requests[0].ID != rej.ID {
		t.Errorf("the admin's pending requests: %+v %v", listed, err)
	}
	if resp := f.api(auth.Admin, "PATCH", fmt.Sprintf("/api/v1/privacy-requests/%d", rej.ID), `{"status": "rejected", "reason": "because"}`); resp.StatusCode != http.StatusBadRequest || jsonErrorField(t, resp) != "reason" {
		t.Errorf("a made-up reason: %d", resp.StatusCode)
	}
	resp = f.api(auth.Admin, "PATCH", fmt.Sprintf("/api/v1/privacy-requests/%d", rej.ID), `{"status": "rejected", "reason": "identity_not_verified"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rejecting: %d", resp.StatusCode)
	}
	got, _ = f.st.PrivacyRequest(ctx, rej.ID)
	if got.Status != "rejected" || got.Evidence.Reason != "identity_not_verified" {
		t.Errorf("rejected %+v", got)
	}

	// Member erasure: never the last owner; an admin goes.
	own := apiRequest(t, f, fmt.Sprintf(`{"kind": "erasure", "subject": {"type": "member", "id": %d}}`, f.users[auth.Owner].ID))
	if resp := f.api(auth.Admin, "POST", fmt.Sprintf("/api/v1/privacy-requests/%d/complete", own.ID), `{"confirm": true}`); resp.StatusCode != http.StatusBadRequest || jsonErrorField(t, resp) != "confirm" {
		t.Errorf("erasing the last owner: %d", resp.StatusCode)
	}
	mem := apiRequest(t, f, fmt.Sprintf(`{"kind": "erasure", "subject": {"type": "member", "id": %d}}`, f.users[auth.Viewer].ID))
	done = apiComplete(t, f, mem.ID, `{"confirm": true}`, http.StatusOK)
	if done.Evidence.Counts["users"] != 1 {
		t.Errorf("member erasure evidence %+v", done.Evidence)
	}
	if _, err := f.st.UserByID(ctx, f.users[auth.Viewer].ID); err != store.ErrNotFound {
		t.Errorf("the member is still there: %v", err)
	}
}

// TestErasureWithoutLedger refuses to erase without the erasure ledger and
// leaves the request open.
func TestErasureWithoutLedger(t *testing.T) {
	f := newFixture(t)
	cid := mustConvContact(t, f)
	req := apiRequest(t, f, fmt.Sprintf(`{"kind": "erasure", "subject": {"type": "contact", "id": %d}}`, cid))
	if resp := f.api(auth.Admin, "POST", fmt.Sprintf("/api/v1/privacy-requests/%d/complete", req.ID), `{"confirm": true}`); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("erasing without a ledger: %d", resp.StatusCode)
	}
	if got, _ := f.st.PrivacyRequest(bg, req.ID); got.Status != "open" {
		t.Errorf("status %s", got.Status)
	}
	if _, err := f.st.ContactByID(bg, nil, cid); err != nil {
		t.Errorf("the contact: %v", err)
	}
	// The pages render: the queue, the form, the request without a ledger.
	if b := body(t, f.do(auth.Admin, "GET", "/requests", nil, false)); !strings.Contains(b, fmt.Sprintf(`data-request="%d"`, req.ID)) {
		t.Error("the queue does not list the request")
	}
	if b := body(t, f.do(auth.Admin, "GET", "/requests/new", nil, false)); !strings.Contains(b, "due 30 days after it was received") {
		t.Error("the form does not say the deadline")
	}
	if b := body(t, f.do(auth.Admin, "GET", fmt.Sprintf("/requests/%d", req.ID), nil, false)); !strings.Contains(b, "the erasure ledger is not available") || !strings.Contains(b, "Ada Lovelace") {
		t.Error("the request page does not say that erasure is unavailable, or names no subject")
	}
	// Filing by phone through the form finds the contact by the number it wrote from.
	id := requestID(t, f.do(auth.Admin, "POST", "/requests", url.Values{"kind": {"restriction"}, "subject_by": {"phone"}, "subject": {"+1 555 0100"}}, false))
	if got, _ := f.st.PrivacyRequest(bg, id); got.SubjectID == nil || *got.SubjectID != cid || got.Kind != "restriction" {
		t.Errorf("filed by phone: %+v", got)
	}
	// A deadline that does not parse refuses to file, naming the setting.
	f.srv.Retention.DSRDeadline = "a month"
	if resp := f.api(auth.Admin, "POST", "/api/v1/privacy-requests", fmt.Sprintf(`{"kind": "access", "subject": {"type": "contact", "id": %d}}`, cid)); resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body(t, resp), "a month") {
		t.Errorf("a bad deadline: %d", resp.StatusCode)
	}
}
