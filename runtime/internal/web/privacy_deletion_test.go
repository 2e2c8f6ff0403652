package web

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/emulators/metatest"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels/meta"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/integrations"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

const (
	deletionSecret = "meta-app-secret-for-tests"
	deletionPath   = "/webhooks/messenger/fb/data-deletion"
	psid           = "7265849302145873"
)

// withMeta connects a Messenger Integration "fb" and a WhatsApp one "wa",
// both with deletionSecret as their app secret, to the fixture's server.
func (f *fixture) withMeta(t *testing.T) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	ints := &fakeIntegrations{adapters: map[string]adapter.Adapter{}, types: map[string]string{}, health: map[string]integrations.Status{}}
	open := func(typ, name string, config, creds map[string]string, factory adapter.Factory) {
		config["apiBaseURL"] = "http://127.0.0.1:1" // never called here
		a, err := factory(adapter.Deps{Name: name, Key: contract.ChannelKey(typ, name),
			Info:        contract.ChannelInfo{Type: typ, UID: "uid-" + name, Config: config, CredentialsVersion: 1},
			Credentials: creds, Inbox: f.srv.Inbox, Store: f.st, Log: log, Report: ints.report(name, typ)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		ints.adapters[name], ints.types[name] = a, typ
	}
	open("messenger", "fb", map[string]string{"pageId": "112233445566778"},
		map[string]string{"pageAccessToken": "page-token", "appSecret": deletionSecret, "verifyToken": "v"}, meta.NewMessenger)
	open("whatsapp", "wa", map[string]string{"phoneNumberId": "1234567890", "businessAccountId": "9876543210"},
		map[string]string{"accessToken": "wa-token", "appSecret": deletionSecret, "verifyToken": "v"}, meta.NewWhatsApp)
	f.srv.Integrations = ints
}

// callback posts a data-deletion callback with body (form-encoded unless
// ctype says otherwise).
func (f *fixture) callback(t *testing.T, path, ctype, body string) (*http.Response, string) {
	t.Helper()
	if ctype == "" {
		ctype = "application/x-www-form-urlencoded"
	}
	res, err := http.Post(f.ts.URL+path, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func signedForm(secret string, p metatest.DeletionPayload) string {
	return url.Values{"signed_request": {metatest.SignedRequest(secret, p)}}.Encode()
}

// deletionTables are the tables a callback may change.
var deletionTables = []string{"contacts", "contact_identities", "conversations", "messages", "privacy_requests", "audit_log", "usage_events"}

func (f *fixture) rowCounts(t *testing.T) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, table := range deletionTables {
		var n int64
		if err := f.st.Pool.QueryRow(bg, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func (f *fixture) ingestMessenger(t *testing.T, identifier, body string) *inbox.IngestResult {
	t.Helper()
	res, err := f.srv.Inbox.Ingest(bg, inbox.Inbound{Channel: "messenger/fb", Identifier: identifier, ContactName: "Grace Hopper",
		ExternalID: fmt.Sprintf("m_%d", time.Now().UnixNano()), Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

type deletionAnswer struct {
	URL  string `json:"url"`
	Code string `json:"confirmation_code"`
}

func decodeAnswer(t *testing.T, res *http.Response, body string) deletionAnswer {
	t.Helper()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("answer %d %s: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	var a deletionAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Code) < 32 || a.URL != "http://acme.test/privacy/status?id="+url.QueryEscape(a.Code) {
		t.Fatalf("answer %+v", a)
	}
	return a
}

// A forged, malformed, expired or oversized callback gets a 4xx and
// changes nothing; so does one to an Integration that is not Meta's or
// does not exist.
func TestMetaDataDeletionRefusals(t *testing.T) {
	f := newFixture(t)
	f.withMeta(t)
	f.ingestMessenger(t, psid, "please delete me")
	now := time.Now()
	valid := metatest.Deletion(psid, now)
	with := func(m func(p *metatest.DeletionPayload)) string {
		p := valid
		m(&p)
		return signedForm(deletionSecret, p)
	}
	good := metatest.SignedRequest(deletionSecret, valid)
	sig, payload, _ := strings.Cut(good, ".")
	form := func(v string) string { return url.Values{"signed_request": {v}}.Encode() }
	tests := []struct {
		name, path, ctype, body string
		status                  int
	}{
		{"wrong secret", deletionPath, "", signedForm("not-the-app-secret", valid), http.StatusForbidden},
		{"tampered payload", deletionPath, "", form(sig + "." + payloadFor(t, psid+"0", now)), http.StatusForbidden},
		{"no signed_request", deletionPath, "", "user_id=" + psid, http.StatusBadRequest},
		{"no dot", deletionPath, "", form(sig + payload), http.StatusBadRequest},
		{"bad base64", deletionPath, "", form("%%%." + payload), http.StatusBadRequest},
		{"bad JSON", deletionPath, "", form(metatest.SignRaw(deletionSecret, []byte("{user_id"))), http.StatusBadRequest},
		{"wrong algorithm", deletionPath, "", with(func(p *metatest.DeletionPayload) { p.Algorithm = "HMAC-SHA1" }), http.StatusBadRequest},
		{"expired", deletionPath, "", with(func(p *metatest.DeletionPayload) { p.Expires = now.Add(-time.Hour).Unix() }), http.StatusBadRequest},
		{"empty user_id", deletionPath, "", with(func(p *metatest.DeletionPayload) { p.UserID = "" }), http.StatusBadRequest},
		{"oversized body", deletionPath, "", signedForm(deletionSecret, valid) + "&pad=" + strings.Repeat("x", publicFormBody), http.StatusRequestEntityTooLarge},
		{"JSON body", deletionPath, "application/json", `{"signed_request":"` + good + `"}`, http.StatusUnsupportedMediaType},
		{"unknown integration", "/webhooks/messenger/nope/data-deletion", "", signedForm(deletionSecret, valid), http.StatusNotFound},
		{"type that is not the integration's", "/webhooks/whatsapp/fb/data-deletion", "", signedForm(deletionSecret, valid), http.StatusNotFound},
		{"type that is not Meta's", "/webhooks/telnyx/fb/data-deletion", "", signedForm(deletionSecret, valid), http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.rowCounts(t)
			res, body := f.callback(t, tt.path, tt.ctype, tt.body)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.status, body)
			}
			if strings.Contains(body, psid) || strings.Contains(body, deletionSecret) {
				t.Fatalf("the answer repeats the user id or the secret: %s", body)
			}
			if after := f.rowCounts(t); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("rows changed: %v -> %v", before, after)
			}
		})
	}
	// GET is not the callback.
	res, err := http.Get(f.ts.URL + deletionPath)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode < 400 || res.StatusCode > 499 {
		t.Fatalf("GET: %d", res.StatusCode)
	}
}

// payloadFor is a payload segment for userID, for a signature made over
// another.
func payloadFor(t *testing.T, userID string, now time.Time) string {
	t.Helper()
	_, p, _ := strings.Cut(metatest.SignedRequest("x", metatest.Deletion(userID, now)), ".")
	return p
}

// A valid callback for a person whose data all came from the Messenger
// Integration erases their contact through privacy.Erase with a ledger
// entry, completes a rights request with the counts, and answers the
// status page's URL and code; the page shows the erasure without sign-in.
// A second callback for the same person finds nothing more to erase.
func TestMetaDataDeletionErases(t *testing.T) {
	f := newFixture(t)
	f.withMeta(t)
	ledger := f.withLedger(t)
	res := f.ingestMessenger(t, psid, "please delete me")
	f.ingestMessenger(t, psid, "and this too")
	other := f.ingestMessenger(t, "1111222233334444", "keep me")
	contactID := res.Conversation.ContactID

	a := f.callbackOK(t, psid)
	req, err := f.st.PrivacyRequestByCode(bg, a.Code)
	if err != nil {
		t.Fatal(err)
	}
	if req.Status != store.RequestCompleted || req.Kind != store.RequestErasure || req.Source != store.SourceMeta ||
		req.SubjectID == nil || *req.SubjectID != contactID || req.Evidence.Action != "erased" ||
		req.Evidence.Counts["contacts"] != 1 || req.Evidence.Counts["messages"] != 2 || req.Evidence.Counts["contact_identities"] != 1 {
		t.Fatalf("request %+v", req)
	}
	var left int64
	if err := f.st.Pool.QueryRow(bg, `SELECT (SELECT count(*) FROM contacts WHERE id = $1) + (SELECT count(*) FROM conversations WHERE contact_id = $1)
		+ (SELECT count(*) FROM contact_identities WHERE identifier = $2)`, contactID, psid).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d rows of the erased contact are left", left)
	}
	if _, err := f.st.ContactByID(bg, f.st.Pool, other.Conversation.ContactID); err != nil {
		t.Fatalf("the other Messenger contact went too: %v", err)
	}
	entries, err := ledger.Since(bg, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].SubjectID != contactID || entries[0].RequestID != fmt.Sprintf("privacy-request-%d", req.ID) {
		t.Fatalf("ledger entries %+v", entries)
	}

	page := f.statusPage(t, a.URL, http.StatusOK)
	for _, want := range []string{"Completed", "messages: 2", "contact record: 1"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the status page lacks %q:\n%s", want, page)
		}
	}
	for _, never := range []string{psid, "Grace", "please delete me", "/contacts/"} {
		if strings.Contains(page, never) {
			t.Fatalf("the status page shows %q", never)
		}
	}

	// Again: nothing is held any more, and the new request says so.
	b := f.callbackOK(t, psid)
	if b.Code == a.Code {
		t.Fatal("a second callback got the first request's code")
	}
	if page := f.statusPage(t, b.URL, http.StatusOK); !strings.Contains(page, "No data about you was held") {
		t.Fatalf("second status page:\n%s", page)
	}
	if entries, _ := ledger.Since(bg, time.Now().Add(-time.Hour)); len(entries) != 1 {
		t.Fatalf("a callback that erased nothing added a ledger entry: %+v", entries)
	}
}

// A contact who also wrote on another channel is not erased by the
// callback: the request waits in the rights queue, and a second callback
// gets the same code. A user id that matches nothing completes at once.
func TestMetaDataDeletionQueuesMixedContact(t *testing.T) {
	f := newFixture(t)
	f.withMeta(t)
	res := f.ingestMessenger(t, psid, "hi from Messenger")
	if _, err := f.st.Pool.Exec(bg, `INSERT INTO contact_identities (channel, identifier, contact_id) VALUES ('api', '+15550199', $1)`, res.Conversation.ContactID); err != nil {
		t.Fatal(err)
	}
	before := f.rowCounts(t)
	a := f.callbackOK(t, psid)
	req, err := f.st.PrivacyRequestByCode(bg, a.Code)
	if err != nil {
		t.Fatal(err)
	}
	if req.Status != store.RequestOpen || req.SubjectID == nil || *req.SubjectID != res.Conversation.ContactID || req.Evidence.Note != noteMetaElsewhere {
		t.Fatalf("request %+v", req)
	}
	after := f.rowCounts(t)
	if after["contacts"] != before["contacts"] || after["messages"] != before["messages"] || after["privacy_requests"] != before["privacy_requests"]+1 {
		t.Fatalf("rows %v -> %v", before, after)
	}
	if b := f.callbackOK(t, psid); b.Code != a.Code {
		t.Fatal("a second callback while the request is open filed another")
	}
	if page := f.statusPage(t, a.URL, http.StatusOK); !strings.Contains(page, "being handled") || !strings.Contains(page, "Open") {
		t.Fatalf("status page:\n%s", page)
	}

	// WhatsApp: a user id that is no wa_id of ours holds no data.
	res2, body := f.callback(t, "/webhooks/whatsapp/wa/data-deletion", "", signedForm(deletionSecret, metatest.Deletion("424242", time.Now())))
	c := decodeAnswer(t, res2, body)
	none, err := f.st.PrivacyRequestByCode(bg, c.Code)
	if err != nil {
		t.Fatal(err)
	}
	if none.Status != store.RequestCompleted || none.SubjectID != nil || none.Evidence.Note != noteMetaNoData {
		t.Fatalf("request %+v", none)
	}
}

// callbackOK posts a valid callback for userID to the Messenger
// Integration and decodes the answer.
func (f *fixture) callbackOK(t *testing.T, userID string) deletionAnswer {
	t.Helper()
	res, body := f.callback(t, deletionPath, "", signedForm(deletionSecret, metatest.Deletion(userID, time.Now())))
	return decodeAnswer(t, res, body)
}

// statusPage fetches the status page at the URL the callback answered,
// without a session.
func (f *fixture) statusPage(t *testing.T, u string, want int) string {
	t.Helper()
	res, err := http.Get(f.ts.URL + strings.TrimPrefix(u, "http://acme.test"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("status page %d, want %d: %s", res.StatusCode, want, b)
	}
	return string(b)
}

// An unknown code is a 404 with a neutral page; after statusMissesPerAddr
// unknown codes an address gets 429, and a known code still works after a
// few misses.
func TestPrivacyStatusUnknownCode(t *testing.T) {
	f := newFixture(t)
	f.withMeta(t)
	a := f.callbackOK(t, "5555")
	for _, code := range []string{"", "nope", strings.Repeat("A", 200), a.Code + "x"} {
		if page := f.statusPage(t, "/privacy/status?id="+url.QueryEscape(code), http.StatusNotFound); !strings.Contains(page, "Unknown request") {
			t.Fatalf("code %q: %s", code, page)
		}
	}
	f.statusPage(t, a.URL, http.StatusOK)
	for i := 4; i < statusMissesPerAddr; i++ {
		f.statusPage(t, "/privacy/status?id=guess"+fmt.Sprint(i), http.StatusNotFound)
	}
	f.statusPage(t, "/privacy/status?id=one-more", http.StatusTooManyRequests)
}
