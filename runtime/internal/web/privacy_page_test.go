package web

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// connectedForPrivacy are Integrations of every type, with names, keys and
// provider messages that must never reach the public page.
var connectedForPrivacy = statusList{
	{Name: "wa-support-line", Type: "whatsapp", Key: "whatsapp/wa-support-line", State: contract.HealthConnected},
	{Name: "fb-page-acme", Type: "messenger", Key: "messenger/fb-page-acme"},
	{Name: "sms-main", Type: "telnyx", Key: "telnyx/sms-main", State: contract.HealthAuthFailed, Code: "10009", Message: "account 4711-0815 refused the key"},
	{Name: "support-mailbox", Type: "imap", Key: "imap/support-mailbox"},
	{Name: "acme-shop", Type: "shopify", Key: "shopify/acme-shop"},
	{Name: "maps-key", Type: "googlePlaces", Key: "googlePlaces/maps-key"},
}

// publicGet loads a page with no session.
func (f *fixture) publicGet(path string) (*http.Response, string) {
	f.t.Helper()
	resp := f.do("", http.MethodGet, path, nil, false)
	return resp, f.body(resp)
}

// publicPost posts a public form as a browser without script does, or (js)
// as forms.js does; from sets X-Forwarded-For.
func (f *fixture) publicPost(path string, form url.Values, js bool, from string) (*http.Response, string) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if js {
		req.Header.Set("X-Switchboard-Form", "1")
	}
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	resp, err := noRedirect().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { resp.Body.Close() })
	return resp, f.body(resp)
}

// textOf is a page's visible text, tags dropped and spaces collapsed.
func textOf(html string) string {
	html = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>|<[^>]*>`).ReplaceAllString(html, " ")
	text := strings.Join(strings.Fields(html), " ")
	return strings.NewReplacer(" .", ".", " :", ":", " ,", ",").Replace(text)
}

func TestPrivacyPageShowsThePolicyAndTheConnectedProviders(t *testing.T) {
	f := newFixture(t)
	f.srv.DisplayName = "Acme Inc."
	f.srv.Retention = RetentionSettings{Policy: "gdpr-strict",
		Categories: "conversations=730d:Delete,usageEvents=1095d:Anonymize,sessions=48h:Delete", DSRDeadline: "14d",
		BackupRetainFor: "35d", BackupAfterDeletion: "60d", CredentialsAfterDisconnect: "72h", Region: "EU (Frankfurt)"}
	f.srv.Integrations = connectedForPrivacy

	resp, body := f.publicGet("/privacy")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /privacy without a session: %s", resp.Status)
	}
	cc := resp.Header.Get("Cache-Control")
	m := regexp.MustCompile(`max-age=(\d+)`).FindStringSubmatch(cc)
	if m == nil || !strings.Contains(cc, "public") {
		t.Fatalf("Cache-Control %q: want public with a max-age", cc)
	}
	if age, _ := strconv.Atoi(m[1]); age > 60 {
		t.Errorf("Cache-Control %q: a policy change would take more than a minute to show", cc)
	}
	text := textOf(body)
	for _, want := range []string{
		"How Acme Inc. keeps your data",
		"Conversations and their messages, with attachments 730 days after the last activity, then deleted",
		"Usage records: sign-ins, messages sent and received, exports and API calls 1095 days, then kept without anything that identifies a person",
		"Sign-in data of the team: sessions, failed sign-ins and invitations 48 hours, then deleted",
		"Contacts: names, email addresses, phone numbers and notes about people kept until deleted",
		"The audit log: which member did what, by record number kept until deleted",
		"Backups are kept for 35 days after they are taken",
		"its backups are kept for 60 days more, then deleted",
		"its access keys are kept for 72 hours",
		"The data is stored in EU (Frankfurt).",
		"Meta: WhatsApp and Messenger messages", "Telnyx: text messages (SMS)", "Shopify: orders from the online shop",
		"Google: address lookup (Google Places)",
		"Email also goes through the organisation's own mail provider",
		"Requests are answered within 14 days.",
		"What are you asking for?", "Delete my data (erasure)", "Your email address", "Send the request",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not say %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "Meta:") != 1 {
		t.Errorf("Meta is listed %d times; want once for WhatsApp and Messenger together", strings.Count(text, "Meta:"))
	}
	// Named by type only: no Integration's name or account, no provider
	// not connected, nobody's data, and not the policy's internal name.
	for _, never := range []string{"wa-support-line", "fb-page-acme", "sms-main", "support-mailbox", "acme-shop", "maps-key",
		"4711-0815", "10009", "Microsoft", "Stripe", "Ada Lovelace", "+15550100", "owner@acme.example", "gdpr-strict"} {
		if strings.Contains(body, never) {
			t.Errorf("the public page shows %q", never)
		}
	}
	if !strings.Contains(body, `<form method="post" action="/privacy/requests"`) || strings.Contains(body, `name="csrf"`) {
		t.Error("the page has no plain request form, or one that needs a session's CSRF token")
	}

	// The runtime starts with the operator's new settings after a policy
	// change: the page shows them, and only them.
	f.srv.Retention = RetentionSettings{Categories: "contacts=365d:Anonymize", DSRDeadline: "1d", BackupShredOnDelete: true}
	f.srv.Integrations = statusList{{Name: "billing", Type: "stripe", Key: "stripe/billing"}, {Name: "m365", Type: "microsoft", Key: "microsoft/m365"}}
	_, body = f.publicGet("/privacy")
	text = textOf(body)
	for _, want := range []string{
		"Contacts: names, email addresses, phone numbers and notes about people 365 days after the last activity, then kept without anything that identifies a person",
		"Conversations and their messages, with attachments kept until deleted",
		"Backups are kept for 30 days", // the operator's default
		"its backups are made unreadable at once",
		"its access keys are destroyed at once",
		"The storage region has not been published",
		"Microsoft: email through Microsoft 365", "Stripe: payments",
		"Requests are answered within 1 day.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("after the change, the page does not say %q:\n%s", want, text)
		}
	}
	for _, gone := range []string{"730 days", "Meta", "Telnyx", "EU (Frankfurt)", "14 days", "own mail provider"} {
		if strings.Contains(text, gone) {
			t.Errorf("after the change, the page still says %q", gone)
		}
	}

	// Members find the page's address with the retention settings.
	resp = f.do(auth.Viewer, http.MethodGet, "/settings/security", nil, false)
	if b := f.body(resp); !strings.Contains(b, `<a href="/privacy">http://acme.test/privacy</a>`) {
		t.Errorf("Settings → Security does not link the public privacy page")
	}

	f.srv.Integrations = nil
	f.srv.Retention.NoBackups = true
	_, body = f.publicGet("/privacy")
	if text = textOf(body); !strings.Contains(text, "None is connected.") {
		t.Error("with no Integration, the page does not say that no provider is connected")
	}
	if !strings.Contains(text, "No backups are taken of this inbox.") || strings.Contains(text, "Backups are kept") || strings.Contains(text, "its backups") {
		t.Errorf("with no backup store, the page speaks of backups: %s", text)
	}
}

func TestPolicyWords(t *testing.T) {
	for in, want := range map[string]string{"30d": "30 days", "1d": "1 day", "48h": "48 hours", "1h": "1 hour", "0d": "", "007d": "7 days", "": "kept until deleted", "3w": "kept until deleted", "-1d": "kept until deleted"} {
		if got := policyWords(in, ""); got != want {
			t.Errorf("policyWords(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPublicRightsRequest(t *testing.T) {
	f := newFixture(t)
	f.srv.Retention = RetentionSettings{DSRDeadline: "14d"}
	// Each test client comes through a trusted proxy with its own address.
	f.srv.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}

	before := time.Now()
	resp, _ := f.publicPost("/privacy/requests", url.Values{"kind": {"erasure"}, "email": {" Person@Example.ORG "}}, false, "198.51.100.1")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a valid request: %s, want 303", resp.Status)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("id")
	if loc.Path != "/privacy/status" || len(code) < 30 {
		t.Fatalf("redirected to %q, want /privacy/status?id=<confirmation code>", resp.Header.Get("Location"))
	}
	req, err := f.st.PrivacyRequestByCode(bg, code)
	if err != nil {
		t.Fatalf("the request is not in the store under its code: %v", err)
	}
	if req.Kind != store.RequestErasure || req.Source != store.SourcePublic || req.SubjectType != store.SubjectContact ||
		req.SubjectID != nil || req.Requester != "person@example.org" || req.Status != store.RequestOpen {
		t.Errorf("request = %+v", req)
	}
	if d := req.DueAt.Sub(req.ReceivedAt); d != 14*24*time.Hour || req.ReceivedAt.Before(before.Add(-time.Second)) || req.ReceivedAt.After(time.Now()) {
		t.Errorf("received %s, due %s: want due 14 days after now", req.ReceivedAt, req.DueAt)
	}
	var audited int
	if err := f.st.Pool.QueryRow(bg, `SELECT count(*) FROM audit_log WHERE action = 'privacy_request.created' AND object_type = 'privacy_request' AND object_id = $1 AND actor_id IS NULL`,
		strconv.FormatInt(req.ID, 10)).Scan(&audited); err != nil || audited != 1 {
		t.Errorf("audit entries for the request: %d, %v", audited, err)
	}

	// The answer is the same whether or not the email is a contact's: a
	// request with no subject, and its status page.
	if _, err := f.st.CreateContact(bg, f.st.Pool, &store.Contact{Name: "Known Person", Emails: []string{"known@example.net"}}); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"known@example.net", "nobody-known@example.net"} {
		resp, body := f.publicPost("/privacy/requests", url.Values{"kind": {"access"}, "email": {email}}, true, "198.51.100.2")
		var redirect struct{ Redirect string }
		if err := json.Unmarshal([]byte(body), &redirect); resp.StatusCode != http.StatusOK || err != nil || !strings.HasPrefix(redirect.Redirect, "/privacy/status?id=") {
			t.Fatalf("a request with script for a %s address: %s %s", map[bool]string{true: "known", false: "unknown"}[email == "known@example.net"], resp.Status, body)
		}
		u, _ := url.Parse(redirect.Redirect)
		if r, err := f.st.PrivacyRequestByCode(bg, u.Query().Get("id")); err != nil || r.SubjectID != nil || r.Kind != store.RequestAccess {
			t.Errorf("request for %s: %+v, %v; want an access request with no subject yet", email, r, err)
		}
	}

	// Validation: the field is named, what was typed is not repeated.
	for _, tc := range []struct {
		name, kind, email, field string
	}{
		{"no kind", "", "a@example.org", "kind"},
		{"unknown kind", "<b>sell</b>", "a@example.org", "kind"},
		{"no email", "access", "", "email"},
		{"not an email", "access", "<script>alert(1)</script>", "email"},
		{"a display name", "access", "Eve <eve@example.org>", "email"},
		{"two addresses", "access", "a@example.org, b@example.org", "email"},
		{"no domain dot", "access", "root@localhost", "email"},
		{"too long", "access", strings.Repeat("a", 250) + "@example.org", "email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"kind": {tc.kind}, "email": {tc.email}}
			resp, body := f.publicPost("/privacy/requests", form, true, "198.51.100.3")
			var e struct {
				Error struct{ Field, Message string }
			}
			_ = json.Unmarshal([]byte(body), &e)
			if resp.StatusCode != http.StatusBadRequest || e.Error.Field != tc.field {
				t.Errorf("with script: %s %s, want 400 naming %s", resp.Status, body, tc.field)
			}
			resp, body = f.publicPost("/privacy/requests", form, false, "198.51.100.3")
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, `aria-invalid="true"`) {
				t.Errorf("without script: %s, want 400 with the page and the error at the field", resp.Status)
			}
			for _, typed := range []string{tc.kind, tc.email} {
				if typed == "access" { // a value the form itself offers
					continue
				}
				if len(typed) > 3 && (strings.Contains(body, typed) || strings.Contains(body, url.QueryEscape(typed))) {
					t.Errorf("the error page repeats what was typed: %q", typed)
				}
			}
		})
	}
	var n int
	if err := f.st.Pool.QueryRow(bg, `SELECT count(*) FROM privacy_requests`).Scan(&n); err != nil || n != 3 {
		t.Errorf("%d requests filed, want 3 (refused ones file none): %v", n, err)
	}

	// Rate limit: publicRequestsPerAddr per address per hour, others unaffected.
	for i := 0; i < publicRequestsPerAddr; i++ {
		if resp, _ := f.publicPost("/privacy/requests", url.Values{"kind": {"objection"}, "email": {"flood@example.org"}}, false, "203.0.113.9"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("request %d from one address: %s", i+1, resp.Status)
		}
	}
	resp, body := f.publicPost("/privacy/requests", url.Values{"kind": {"objection"}, "email": {"flood@example.org"}}, false, "203.0.113.9")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many requests") {
		t.Errorf("request %d from one address: %s (Retry-After %q), want 429", publicRequestsPerAddr+1, resp.Status, resp.Header.Get("Retry-After"))
	}
	if resp, _ := f.publicPost("/privacy/requests", url.Values{"kind": {"objection"}, "email": {"other@example.org"}}, false, "203.0.113.10"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("another address after the flood: %s", resp.Status)
	}

	// A body over the public form limit is refused before anything reads it.
	resp, _ = f.publicPost("/privacy/requests", url.Values{"kind": {"access"}, "email": {"a@example.org"}, "pad": {strings.Repeat("x", publicFormBody)}}, false, "198.51.100.4")
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a %d-byte form: %s, want 413", publicFormBody, resp.Status)
	}

	// Posted from another site: refused, nothing filed.
	req2, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/privacy/requests", strings.NewReader("kind=erasure&email=x%40example.org"))
	req2.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req2.Header.Set("Origin", "https://evil.example")
	if resp, err := noRedirect().Do(req2); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site post: %v %v, want 403", resp, err)
	} else {
		resp.Body.Close()
	}
}
