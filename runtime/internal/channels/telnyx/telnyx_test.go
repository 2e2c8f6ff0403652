package telnyx

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/emulators/telnyxtest"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var bg = context.Background()

const (
	ours  = "+15550001000"
	phone = "+15550100200"
)

// reports records what the adapter reported.
type reports struct {
	mu  sync.Mutex
	all []contract.ChannelHealth
}

func (r *reports) add(state, code, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, contract.ChannelHealth{State: state, Code: code, Message: message})
}

func (r *reports) last() contract.ChannelHealth {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.all) == 0 {
		return contract.ChannelHealth{}
	}
	return r.all[len(r.all)-1]
}

type fixture struct {
	tx      *telnyxtest.Server
	a       *Adapter
	svc     *inbox.Service
	st      *store.Store
	rep     *reports
	hook    *httptest.Server
	rejects []*adapter.Reject
	agent   int64
	mu      sync.Mutex
}

// setup builds the adapter against an emulator and a fresh database, and
// serves its webhook the way package integrations does: the body limited,
// a Reject answered with its status, any other error with 500.
func setup(t *testing.T, opts telnyxtest.Options, mutate ...func(*adapter.Deps)) *fixture {
	t.Helper()
	st := storetest.NewDB(t)
	log := slog.New(slog.DiscardHandler)
	f := &fixture{st: st, rep: &reports{}}
	f.tx = telnyxtest.New(opts)
	t.Cleanup(f.tx.Close)
	f.svc = inbox.New(st, live.New(st.Pool, log))
	d := adapter.Deps{Name: "sms", Key: contract.ChannelKey(Type, "sms"),
		Info: contract.ChannelInfo{Type: Type, UID: "uid-1", Config: f.tx.Config(ours), CredentialsVersion: 1,
			WebhookPath: contract.WebhookPath(Type, "sms")},
		Credentials: f.tx.Credentials(), Inbox: f.svc, Store: st, Log: log, Report: f.rep.add}
	for _, m := range mutate {
		m(&d)
	}
	ad, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	f.a = ad.(*Adapter)
	f.svc.Resolve = func(name string) (inbox.Channel, bool) {
		if name == f.a.Name() {
			return f.a, true
		}
		return nil, false
	}
	f.hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, adapter.MaxWebhookBody))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		status, ct, answer, err := f.a.ServeWebhook(r.Context(), r, body)
		var rej *adapter.Reject
		switch {
		case errors.As(err, &rej):
			f.mu.Lock()
			f.rejects = append(f.rejects, rej)
			f.mu.Unlock()
			w.WriteHeader(rej.Status)
			return
		case err != nil:
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(f.hook.Close)
	u, err := st.CreateUser(bg, st.Pool, &store.User{Email: "agent@acme.example", Name: "Agent", Role: "agent", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	f.agent = u.ID
	return f
}

func (f *fixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.st.Pool.QueryRow(bg, sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) lastReject() *adapter.Reject {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.rejects) == 0 {
		return nil
	}
	return f.rejects[len(f.rejects)-1]
}

// inbound delivers an SMS from phone and returns its conversation.
func (f *fixture) inbound(t *testing.T, text string) int64 {
	t.Helper()
	code, err := f.tx.SendInbound(f.hook.URL, telnyxtest.Inbound{From: phone, To: ours, Text: text})
	if err != nil || code != http.StatusOK {
		t.Fatalf("inbound: %d %v", code, err)
	}
	var conv int64
	if err := f.st.Pool.QueryRow(bg, `SELECT conversation_id FROM messages WHERE channel = $1 AND body = $2`, f.a.Name(), text).Scan(&conv); err != nil {
		t.Fatal(err)
	}
	return conv
}

// reply sends an agent's reply through the outbox and returns the message.
func (f *fixture) reply(t *testing.T, conv int64, body string) *store.Message {
	t.Helper()
	m, err := f.svc.Reply(bg, f.agent, conv, body)
	if err != nil {
		t.Fatal(err)
	}
	(&channels.Worker{Inbox: f.svc, Log: slog.New(slog.DiscardHandler)}).RunOnce(bg)
	return f.message(t, m.ID)
}

func (f *fixture) message(t *testing.T, id int64) *store.Message {
	t.Helper()
	m := &store.Message{}
	if err := f.st.Pool.QueryRow(bg, `SELECT id, body, external_id, delivery_status FROM messages WHERE id = $1`, id).
		Scan(&m.ID, &m.Body, &m.ExternalID, &m.DeliveryStatus); err != nil {
		t.Fatal(err)
	}
	return m
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestInboundLandsOnceAndReplyReachesTelnyx(t *testing.T) {
	f := setup(t, telnyxtest.Options{})
	body := f.tx.InboundEvent(telnyxtest.Inbound{ID: "msg-in-1", From: phone, To: ours, Text: "Is my order shipped?"})
	for i := 0; i < 3; i++ { // Telnyx retries; duplicates happen
		code, err := f.tx.Post(f.hook.URL, body)
		if err != nil || code != http.StatusOK {
			t.Fatalf("delivery %d: %d %v", i, code, err)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM messages`); n != 1 {
		t.Fatalf("%d messages after a retried delivery, want 1", n)
	}
	var conv int64
	var channel, ext, identifier string
	if err := f.st.Pool.QueryRow(bg, `SELECT m.conversation_id, c.channel, m.external_id, i.identifier FROM messages m
		JOIN conversations c ON c.id = m.conversation_id JOIN contact_identities i ON i.contact_id = c.contact_id
		WHERE m.body = 'Is my order shipped?'`).Scan(&conv, &channel, &ext, &identifier); err != nil {
		t.Fatal(err)
	}
	if channel != "telnyx/sms" || ext != "msg-in-1" || identifier != phone {
		t.Fatalf("stored on %q with id %q from %q", channel, ext, identifier)
	}

	m := f.reply(t, conv, "Yes, it left today.\r\nTracking follows.")
	sent := f.tx.Sent()
	if len(sent) != 1 {
		t.Fatalf("emulator got %d messages", len(sent))
	}
	s := sent[0]
	if s.From != ours || s.To != phone || s.MessagingProfileID != f.tx.ProfileID() || s.Type != "SMS" ||
		s.Text != "Yes, it left today.\nTracking follows." {
		t.Fatalf("sent %+v", s)
	}
	if str(m.ExternalID) != s.ID || str(m.DeliveryStatus) != "sent" {
		t.Fatalf("reply stored with external id %s, status %s; Telnyx id %s", str(m.ExternalID), str(m.DeliveryStatus), s.ID)
	}
	if r := f.rep.last(); r.State != contract.HealthConnected {
		t.Fatalf("report after a send = %+v", r)
	}
}

func TestStatusesMoveOnlyForward(t *testing.T) {
	f := setup(t, telnyxtest.Options{})
	conv := f.inbound(t, "hello")
	m := f.reply(t, conv, "hi there")
	id := str(m.ExternalID)
	steps := []struct{ telnyx, want string }{
		{"queued", "sent"},               // nothing to record
		{"sent", "sent"},                 // a repeat
		{"delivered", "delivered"},       // forward
		{"sent", "delivered"},            // late: ignored
		{"delivery_failed", "delivered"}, // failed never overrides delivered
	}
	for _, s := range steps {
		if code, err := f.tx.SendStatus(f.hook.URL, id, s.telnyx); err != nil || code != http.StatusOK {
			t.Fatalf("%s: %d %v", s.telnyx, code, err)
		}
		if got := str(f.message(t, m.ID).DeliveryStatus); got != s.want {
			t.Fatalf("after %s: status %s, want %s", s.telnyx, got, s.want)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM delivery_events WHERE message_id = $1 AND status = 'delivered'`, m.ID); n != 1 {
		t.Fatalf("%d delivered events", n)
	}

	// A failure carries Telnyx's error, and unconfirmed delivery stays sent.
	m2 := f.reply(t, conv, "second")
	if code, err := f.tx.SendStatus(f.hook.URL, str(m2.ExternalID), "delivery_failed",
		telnyxtest.Failure{Code: "40008", Title: "Undeliverable", Detail: "handset unreachable"}); err != nil || code != 200 {
		t.Fatal(code, err)
	}
	var detail string
	f.st.Pool.QueryRow(bg, `SELECT detail FROM delivery_events WHERE message_id = $1 AND status = 'failed'`, m2.ID).Scan(&detail)
	if !strings.Contains(detail, "40008 Undeliverable") || str(f.message(t, m2.ID).DeliveryStatus) != "failed" {
		t.Fatalf("failed detail %q", detail)
	}
	m3 := f.reply(t, conv, "third")
	f.tx.SendStatus(f.hook.URL, str(m3.ExternalID), "delivery_unconfirmed")
	for _, st := range []string{"expired", "sending_failed", "cancelled"} {
		if statusOf(st) != "failed" {
			t.Errorf("%s maps to %q", st, statusOf(st))
		}
	}
	if got := str(f.message(t, m3.ID).DeliveryStatus); got != "sent" {
		t.Fatalf("delivery_unconfirmed gave %s", got)
	}
}

func TestBadWebhooksAreRefusedAndStoreNothing(t *testing.T) {
	f := setup(t, telnyxtest.Options{})
	other := telnyxtest.New(telnyxtest.Options{}) // another account's key
	defer other.Close()
	good := f.tx.InboundEvent(telnyxtest.Inbound{From: phone, To: ours, Text: "x"})
	now := time.Now()
	post := func(req *http.Request) int {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		reason string
	}{
		{"forged signature", func() *http.Request { r, _ := other.Request(f.hook.URL, good, now); return r }, 401, adapter.RejectSignature},
		{"tampered body", func() *http.Request {
			r, _ := f.tx.Request(f.hook.URL, good, now)
			r.Body = io.NopCloser(bytes.NewReader(bytes.Replace(good, []byte(`"x"`), []byte(`"y"`), 1)))
			r.ContentLength = -1
			return r
		}, 401, adapter.RejectSignature},
		{"timestamp swapped", func() *http.Request {
			r, _ := f.tx.Request(f.hook.URL, good, now)
			r.Header.Set(HeaderTimestamp, r.Header.Get(HeaderTimestamp)+"1")
			return r
		}, 400, adapter.RejectTimestamp},
		{"no signature", func() *http.Request {
			r, _ := f.tx.Request(f.hook.URL, good, now)
			r.Header.Del(HeaderSignature)
			return r
		}, 401, adapter.RejectSignature},
		{"signature not base64", func() *http.Request {
			r, _ := f.tx.Request(f.hook.URL, good, now)
			r.Header.Set(HeaderSignature, "!!!")
			return r
		}, 401, adapter.RejectSignature},
		{"stale", func() *http.Request { r, _ := f.tx.Request(f.hook.URL, good, now.Add(-301*time.Second)); return r }, 400, adapter.RejectTimestamp},
		{"from the future", func() *http.Request { r, _ := f.tx.Request(f.hook.URL, good, now.Add(301*time.Second)); return r }, 400, adapter.RejectTimestamp},
		{"no timestamp", func() *http.Request {
			r, _ := f.tx.Request(f.hook.URL, good, now)
			r.Header.Del(HeaderTimestamp)
			return r
		}, 400, adapter.RejectTimestamp},
		{"malformed JSON, signed", func() *http.Request { r, _ := f.tx.Request(f.hook.URL, []byte(`{"data":`), now); return r }, 400, adapter.RejectMalformed},
		{"no event type, signed", func() *http.Request { r, _ := f.tx.Request(f.hook.URL, []byte(`{"data":{}}`), now); return r }, 400, adapter.RejectMalformed},
		{"message without payload id, signed", func() *http.Request {
			r, _ := f.tx.Request(f.hook.URL, []byte(`{"data":{"event_type":"message.received","payload":{"text":"x"}}}`), now)
			return r
		}, 400, adapter.RejectMalformed},
		{"inbound without sender, signed", func() *http.Request {
			r, _ := f.tx.Request(f.hook.URL, []byte(`{"data":{"event_type":"message.received","payload":{"id":"a","text":"x","to":[{"phone_number":"`+ours+`"}]}}}`), now)
			return r
		}, 400, adapter.RejectMalformed},
		{"GET", func() *http.Request { r, _ := http.NewRequest(http.MethodGet, f.hook.URL, nil); return r }, 405, "unsupported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := post(c.req()); got != c.status {
				t.Fatalf("status %d, want %d", got, c.status)
			}
			if r := f.lastReject(); r == nil || r.Reason != c.reason || strings.Contains(r.Detail, "\"x\"") {
				t.Fatalf("reject %+v, want reason %s", r, c.reason)
			}
		})
	}
	if n := f.count(t, `SELECT count(*) FROM messages`) + f.count(t, `SELECT count(*) FROM contacts`); n != 0 {
		t.Fatalf("refused webhooks stored %d rows", n)
	}
	// The good one still works, at the edge of the tolerance.
	r, _ := f.tx.Request(f.hook.URL, good, now.Add(-299*time.Second))
	if got := post(r); got != 200 {
		t.Fatalf("a good delivery answered %d", got)
	}
}

func TestEventsForAnotherNumberAreIgnored(t *testing.T) {
	f := setup(t, telnyxtest.Options{})
	code, err := f.tx.SendInbound(f.hook.URL, telnyxtest.Inbound{From: phone, To: "+15559999999", Text: "not for us"})
	if err != nil || code != 200 {
		t.Fatal(code, err)
	}
	unknown := []byte(`{"data":{"event_type":"number_order.complete","id":"e1","payload":{}}}`)
	if code, _ := f.tx.Post(f.hook.URL, unknown); code != 200 {
		t.Fatalf("an unused event type answered %d", code)
	}
	if n := f.count(t, `SELECT count(*) FROM messages`); n != 0 {
		t.Fatalf("stored %d messages", n)
	}
}

func TestStatusOnAnIDNotYetRecorded(t *testing.T) {
	base := time.Now()
	var clock atomic.Int64 // the emulator's clock, in Unix nanoseconds
	clock.Store(base.UnixNano())
	f := setup(t, telnyxtest.Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	// Sent straight through the adapter: Telnyx knows the message, the
	// database does not (yet, or ever).
	id, err := f.a.Deliver(bg, inbox.Outbound{Identifier: phone, Body: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := f.tx.SendStatus(f.hook.URL, id, "delivered"); code != http.StatusInternalServerError {
		t.Fatalf("a fresh report on an unknown id answered %d; Telnyx must retry it", code)
	}
	// A report that occurred minutes ago on an id we do not know is about a
	// message sent before this workspace connected the number: dropped.
	clock.Store(base.Add(-3 * time.Minute).UnixNano())
	old, err := f.tx.StatusEvent(id, "delivered")
	if err != nil {
		t.Fatal(err)
	}
	clock.Store(base.UnixNano())
	if code, _ := f.tx.Post(f.hook.URL, old); code != http.StatusOK {
		t.Fatalf("an old report on an unknown id answered %d", code)
	}
}

func TestAutoStatusReachesTheInbox(t *testing.T) {
	f := setup(t, telnyxtest.Options{AutoStatus: true, StatusDelay: 50 * time.Millisecond})
	f.tx.SetWebhookURL(f.hook.URL)
	conv := f.inbound(t, "simulated phone")
	m := f.reply(t, conv, "simulated answer")
	deadline := time.Now().Add(10 * time.Second)
	for str(f.message(t, m.ID).DeliveryStatus) != "delivered" {
		if time.Now().After(deadline) {
			t.Fatalf("status stayed %s", str(f.message(t, m.ID).DeliveryStatus))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAuthFailure(t *testing.T) {
	t.Run("send refused with 10009", func(t *testing.T) {
		f := setup(t, telnyxtest.Options{})
		conv := f.inbound(t, "hello")
		f.tx.FailNext(telnyxtest.Failure{Status: 401, Code: "10009", Title: "Authentication failed"})
		m := f.reply(t, conv, "reply")
		if got := str(m.DeliveryStatus); got != "failed" {
			t.Fatalf("status %s: a refused key is not retried", got)
		}
		if r := f.rep.last(); r.State != contract.HealthAuthFailed || r.Code != "10009" || strings.Contains(r.Message, f.tx.APIKey()) {
			t.Fatalf("report %+v", r)
		}
		var lastErr string
		f.st.Pool.QueryRow(bg, `SELECT last_error FROM outbox WHERE message_id = $1`, m.ID).Scan(&lastErr)
		if strings.Contains(lastErr, f.tx.APIKey()) || !strings.Contains(lastErr, "10009") {
			t.Fatalf("outbox error %q", lastErr)
		}
	})
	t.Run("startup check with a wrong key", func(t *testing.T) {
		f := setup(t, telnyxtest.Options{}, func(d *adapter.Deps) {
			d.Credentials = map[string]string{CredAPIKey: "KEYWRONG", CredPublicKey: d.Credentials[CredPublicKey]}
		})
		f.a.Run(bg)
		if r := f.rep.last(); r.State != contract.HealthAuthFailed || r.Code != "10009" || strings.Contains(r.Message, "KEYWRONG") {
			t.Fatalf("report %+v", r)
		}
	})
	t.Run("startup check with the right key", func(t *testing.T) {
		f := setup(t, telnyxtest.Options{})
		f.a.Run(bg)
		if r := f.rep.last(); r.State != contract.HealthConnected {
			t.Fatalf("report %+v", r)
		}
	})
	t.Run("unknown messaging profile", func(t *testing.T) {
		f := setup(t, telnyxtest.Options{}, func(d *adapter.Deps) {
			d.Info.Config = map[string]string{ConfigPhoneNumber: ours, ConfigProfileID: "nope", ConfigBaseURL: d.Info.Config[ConfigBaseURL]}
		})
		f.a.Run(bg)
		if r := f.rep.last(); r.State != contract.HealthMisconfigured {
			t.Fatalf("report %+v", r)
		}
	})
	t.Run("unreachable API is retried", func(t *testing.T) {
		f := setup(t, telnyxtest.Options{}, func(d *adapter.Deps) {
			d.Info.Config = map[string]string{ConfigPhoneNumber: ours, ConfigProfileID: "p", ConfigBaseURL: "http://127.0.0.1:1"}
		})
		ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
		defer cancel()
		f.a.Run(ctx) // returns when ctx ends
		if r := f.rep.last(); r.State != contract.HealthUnreachable {
			t.Fatalf("report %+v", r)
		}
	})
}

func TestSendErrors(t *testing.T) {
	f := setup(t, telnyxtest.Options{})
	cases := []struct {
		status    int
		code      string
		permanent bool
	}{
		{422, "10016", true},
		{422, "40001", true},
		{422, "40003", true},
		{422, "40008", true},
		{429, "10011", false},
		{422, "40002", false},
		{429, "40011", false},
		{500, "", false},
		{503, "10007", false},
		{422, "10015", true},
	}
	for _, c := range cases {
		f.tx.FailNext(telnyxtest.Failure{Status: c.status, Code: c.code, Title: "refused"})
		_, err := f.a.Deliver(bg, inbox.Outbound{Identifier: phone, Body: "x"})
		if err == nil || adapter.IsPermanent(err) != c.permanent {
			t.Errorf("%d %s: err %v, permanent %v; want permanent %v", c.status, c.code, err, adapter.IsPermanent(err), c.permanent)
		}
		if c.code != "" && !strings.Contains(err.Error(), c.code) {
			t.Errorf("error %q does not name code %s", err, c.code)
		}
	}
	if _, err := f.a.Deliver(bg, inbox.Outbound{Identifier: "555-0100", Body: "x"}); !adapter.IsPermanent(err) {
		t.Errorf("a number that is not E.164: %v", err)
	}
	if _, err := f.a.Deliver(bg, inbox.Outbound{Identifier: phone, Body: "x", Template: &inbox.TemplateMessage{Name: "t", Language: "en"}}); !adapter.IsPermanent(err) {
		t.Errorf("a template: %v", err)
	}
	if len(f.tx.Sent()) != 0 {
		t.Fatalf("refused sends were recorded: %+v", f.tx.Sent())
	}
	for _, r := range f.rep.all {
		if r.State == contract.HealthAuthFailed {
			t.Fatalf("a non-auth refusal reported %+v", r)
		}
	}
}

func TestMMSMedia(t *testing.T) {
	f := setup(t, telnyxtest.Options{})
	png := []byte("\x89PNG\r\n\x1a\nfake image bytes")
	own := f.tx.AddMedia(png, "image/png")
	var sawAuth []string
	var mu sync.Mutex
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawAuth = append(sawAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/vcard")
		_, _ = w.Write([]byte("BEGIN:VCARD\nEND:VCARD\n"))
	}))
	defer foreign.Close()
	signed := telnyxtest.Media{URL: foreign.URL + "/bucket/contact.vcf?X-Amz-Signature=abc", ContentType: "text/vcard"}
	tampered := f.tx.AddMedia([]byte("other"), "image/jpeg")
	tampered.SHA256 = strings.Repeat("0", 64)
	huge := telnyxtest.Media{URL: foreign.URL + "/big.mp4", ContentType: "video/mp4", Size: MaxMediaBytes + 1}

	in := telnyxtest.Inbound{ID: "mms-1", From: phone, To: ours, Text: "see attached", Media: []telnyxtest.Media{own, signed, tampered, huge}}
	body := f.tx.InboundEvent(in)
	for i := 0; i < 2; i++ {
		if code, err := f.tx.Post(f.hook.URL, body); err != nil || code != 200 {
			t.Fatal(code, err)
		}
	}
	var msgID int64
	var text string
	if err := f.st.Pool.QueryRow(bg, `SELECT id, body FROM messages WHERE external_id = 'mms-1'`).Scan(&msgID, &text); err != nil {
		t.Fatal(err)
	}
	rows, _ := f.st.Pool.Query(bg, `SELECT filename, content_type, size, data FROM attachments WHERE message_id = $1 ORDER BY id`, msgID)
	type att struct {
		name, ct string
		size     int64
		data     []byte
	}
	var got []att
	for rows.Next() {
		var a att
		rows.Scan(&a.name, &a.ct, &a.size, &a.data)
		got = append(got, a)
	}
	rows.Close()
	if len(got) != 2 || !bytes.Equal(got[0].data, png) || got[0].ct != "image/png" || !strings.HasSuffix(got[0].name, ".png") ||
		got[1].name != "contact.vcf" || got[1].ct != "text/vcard" {
		t.Fatalf("attachments %+v", got)
	}
	if !strings.HasPrefix(text, "see attached") || !strings.Contains(text, "attachment 3 (image/jpeg)") ||
		!strings.Contains(text, "sha256") || !strings.Contains(text, "attachment 4 (video/mp4)") {
		t.Fatalf("body %q does not say what is missing", text)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sawAuth) != 1 || sawAuth[0] != "" {
		t.Fatalf("the storage host saw Authorization %q (and a retry must not download again)", sawAuth)
	}
}

func TestFactoryRefusesBadConfig(t *testing.T) {
	tx := telnyxtest.New(telnyxtest.Options{})
	defer tx.Close()
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	cases := map[string]adapter.Deps{
		"publicKey not base64":  {Info: contract.ChannelInfo{Config: tx.Config(ours)}, Credentials: map[string]string{CredAPIKey: "KEYsecret", CredPublicKey: "not base64 at all!"}},
		"publicKey of 31 bytes": {Info: contract.ChannelInfo{Config: tx.Config(ours)}, Credentials: map[string]string{CredAPIKey: "KEYsecret", CredPublicKey: short}},
		"no apiKey":             {Info: contract.ChannelInfo{Config: tx.Config(ours)}, Credentials: map[string]string{CredPublicKey: tx.PublicKey()}},
		"phoneNumber not E.164": {Info: contract.ChannelInfo{Config: tx.Config("5550100")}, Credentials: tx.Credentials()},
		"apiBaseURL not a URL":  {Info: contract.ChannelInfo{Config: map[string]string{ConfigPhoneNumber: ours, ConfigBaseURL: "ftp://x"}}, Credentials: tx.Credentials()},
	}
	for name, d := range cases {
		if _, err := New(d); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "KEYsecret") || strings.Contains(err.Error(), "not base64 at all") || strings.Contains(err.Error(), short) {
			t.Errorf("%s: the error repeats a secret: %v", name, err)
		}
	}
	if f, ok := adapter.Lookup(Type); !ok || f == nil {
		t.Fatal("telnyx is not registered")
	}
}

func TestCloseDropsCredentials(t *testing.T) {
	f := setup(t, telnyxtest.Options{})
	if creds := f.a.Credentials(); len(creds) != 2 || creds[0] != f.tx.APIKey() {
		t.Fatalf("credentials %v", creds)
	}
	f.a.Close()
	if creds := f.a.Credentials(); creds != nil {
		t.Fatalf("credentials after Close: %v", creds)
	}
	if _, err := f.a.Deliver(bg, inbox.Outbound{Identifier: phone, Body: "x"}); err == nil || adapter.IsPermanent(err) {
		t.Fatalf("deliver after Close: %v (must fail, and be retried by the next adapter)", err)
	}
	if code, _ := f.tx.SendInbound(f.hook.URL, telnyxtest.Inbound{From: phone, To: ours, Text: "late"}); code/100 == 2 {
		t.Fatalf("a closed adapter accepted a webhook: %d", code)
	}
}

func TestSegments(t *testing.T) {
	f := setup(t, telnyxtest.Options{})
	var _ inbox.Segmented = f.a
	if parts, enc := f.a.Segments(strings.Repeat("a", 159) + "\r\n"); parts != 1 || enc != "GSM-7" {
		t.Fatalf("159 + CR LF = %d %s; a browser's CR LF is sent as LF", parts, enc)
	}
	if parts, enc := f.a.Segments(strings.Repeat("ж", 71)); parts != 2 || enc != "UCS-2" {
		t.Fatalf("%d %s", parts, enc)
	}
	// The emulator reports what Telnyx would bill.
	if _, err := f.a.Deliver(bg, inbox.Outbound{Identifier: phone, Body: strings.Repeat("€", 81)}); err != nil {
		t.Fatal(err)
	}
	if s := f.tx.Sent()[0]; s.Parts != 2 || s.Encoding != "GSM-7" {
		t.Fatalf("emulator: %+v", s)
	}
}

func TestVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	body := []byte(`{"data":{"event_type":"message.received"}}`)
	now := time.Unix(1_800_000_000, 0)
	sign := func(ts string, b []byte) string {
		return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, append([]byte(ts+"|"), b...)))
	}
	ts := "1800000000"
	cases := []struct {
		name    string
		sig, ts string
		body    []byte
		at      time.Time
		want    error
	}{
		{"valid", sign(ts, body), ts, body, now, nil},
		{"300 s old", sign(ts, body), ts, body, now.Add(300 * time.Second), nil},
		{"301 s old", sign(ts, body), ts, body, now.Add(301 * time.Second), ErrTimestamp},
		{"301 s ahead", sign(ts, body), ts, body, now.Add(-301 * time.Second), ErrTimestamp},
		{"signed without the timestamp", base64.StdEncoding.EncodeToString(ed25519.Sign(priv, body)), ts, body, now, ErrSignature},
		{"dot instead of bar", base64.StdEncoding.EncodeToString(ed25519.Sign(priv, append([]byte(ts+"."), body...))), ts, body, now, ErrSignature},
		{"other body", sign(ts, body), ts, []byte(`{}`), now, ErrSignature},
		{"truncated signature", sign(ts, body)[:40], ts, body, now, ErrSignature},
		{"huge timestamp", sign("99999999999999999", body), "99999999999999999", body, now, ErrTimestamp},
		{"negative timestamp", sign("-9223372036854775808", body), "-9223372036854775808", body, now, ErrTimestamp},
	}
	for _, c := range cases {
		if err := Verify(pub, c.sig, c.ts, c.body, c.at); err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Unix(1_800_000_000, 0)
	f.Add("1800000000", []byte(`{"data":{}}`), "")
	f.Add("-1", []byte{}, "AAAA")
	f.Fuzz(func(t *testing.T, ts string, body []byte, sig string) {
		_ = Verify(pub, sig, ts, body, now)
		// Whatever the input, a real signature within the tolerance verifies
		// and a flipped bit does not.
		good := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, append([]byte("1800000000|"), body...)))
		if err := Verify(pub, good, "1800000000", body, now); err != nil {
			t.Fatalf("a valid signature failed: %v", err)
		}
		if len(body) > 0 {
			flipped := append([]byte(nil), body...)
			flipped[0] ^= 1
			if Verify(pub, good, "1800000000", flipped, now) == nil {
				t.Fatal("a changed body verified")
			}
		}
	})
}

func FuzzParseEvent(f *testing.F) {
	tx := telnyxtest.New(telnyxtest.Options{})
	defer tx.Close()
	f.Add(tx.InboundEvent(telnyxtest.Inbound{From: phone, To: ours, Text: "hi", Media: []telnyxtest.Media{{URL: "https://x/y.png"}}}))
	f.Add([]byte(`{"data":{"event_type":"message.finalized","occurred_at":"2019-12-09T21:32:14.148+00:00","payload":{"id":"a","to":[{"status":"delivered"}],"errors":[{"code":40008,"title":"t"}]}}}`))
	f.Add([]byte(`{"data":{"event_type":"message.sent","payload":null}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := ParseEvent(body)
		if err != nil {
			return
		}
		if ev.Type == "" {
			t.Fatal("an event without a type parsed")
		}
		if strings.HasPrefix(ev.Type, "message.") && (ev.Message == nil || ev.Message.ID == "") {
			t.Fatal("a message event without its message parsed")
		}
		if ev.Message != nil {
			for _, to := range ev.Message.To {
				_ = statusOf(to.Status)
			}
			for _, e := range ev.Message.Errors {
				_ = e.summary()
			}
		}
	})
}

// TestLostAnswerIsNotSentTwice: Telnyx took the SMS, but the connection
// broke before its answer came. Telnyx has no idempotency key, so the
// outbox does not send it again: the message is unconfirmed, with why,
// until an agent chooses to send it again.
func TestLostAnswerIsNotSentTwice(t *testing.T) {
	f := setup(t, telnyxtest.Options{})
	conv := f.inbound(t, "Where is my parcel?")
	f.tx.FailNext(telnyxtest.Failure{Drop: true})
	m := f.reply(t, conv, "It left this morning")
	if s := str(m.DeliveryStatus); s != "unconfirmed" {
		t.Fatalf("status %s, want unconfirmed", s)
	}
	for i := 0; i < 2; i++ {
		if _, err := f.st.Pool.Exec(bg, `UPDATE outbox SET next_attempt_at = now() - interval '1 hour'`); err != nil {
			t.Fatal(err)
		}
		(&channels.Worker{Inbox: f.svc, Log: slog.New(slog.DiscardHandler)}).RunOnce(bg)
	}
	if n := len(f.tx.Sent()); n != 1 {
		t.Fatalf("Telnyx got %d messages, want 1", n)
	}
	events, err := f.svc.DeliveryEvents(bg, m.ID)
	if err != nil || len(events) == 0 || !strings.Contains(events[len(events)-1].Detail, "may have arrived") {
		t.Fatalf("events %+v %v", events, err)
	}
	if strings.Contains(events[len(events)-1].Detail, f.tx.Credentials()["apiKey"]) {
		t.Fatal("the detail names the API key")
	}

	// The agent sends it again: that is theirs to choose, and it goes.
	if err := f.svc.RetryDelivery(bg, f.agent, m.ID); err != nil {
		t.Fatal(err)
	}
	(&channels.Worker{Inbox: f.svc, Log: slog.New(slog.DiscardHandler)}).RunOnce(bg)
	if s := str(f.message(t, m.ID).DeliveryStatus); s != "sent" || len(f.tx.Sent()) != 2 {
		t.Fatalf("after Send again: status %s, %d sent", s, len(f.tx.Sent()))
	}
}

// TestInterruptedAttemptIsNotRepeated: a replica marked an attempt in
// flight and died before it recorded the outcome; the next claim cannot
// know whether Telnyx got the SMS, and does not send it.
func TestInterruptedAttemptIsNotRepeated(t *testing.T) {
	f := setup(t, telnyxtest.Options{})
	conv := f.inbound(t, "Hello?")
	m, err := f.svc.Reply(bg, f.agent, conv, "Hi, how can I help?")
	if err != nil {
		t.Fatal(err)
	}
	items, err := f.st.ClaimDue(bg, 10, time.Minute)
	if err != nil || len(items) != 1 {
		t.Fatalf("claim: %v %d", err, len(items))
	}
	if ok, err := f.st.BeginAttempt(bg, items[0], time.Minute); err != nil || !ok {
		t.Fatalf("begin: %v %v", ok, err)
	}
	// The replica dies here; its lease runs out.
	if _, err := f.st.Pool.Exec(bg, `UPDATE outbox SET next_attempt_at = now()`); err != nil {
		t.Fatal(err)
	}
	(&channels.Worker{Inbox: f.svc, Log: slog.New(slog.DiscardHandler)}).RunOnce(bg)
	if s := str(f.message(t, m.ID).DeliveryStatus); s != "unconfirmed" {
		t.Fatalf("status %s, want unconfirmed", s)
	}
	if n := len(f.tx.Sent()); n != 0 {
		t.Fatalf("the interrupted attempt was repeated: %d sent", n)
	}
}

// TestRequestThatNeverLeftIsRetried: a refused connection cannot have sent
// anything, so it is an ordinary retry, not unconfirmed.
func TestRequestThatNeverLeftIsRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f := setup(t, telnyxtest.Options{}, func(d *adapter.Deps) {
		cfg := map[string]string{}
		for k, v := range d.Info.Config {
			cfg[k] = v
		}
		cfg["apiBaseURL"] = "http://" + addr
		d.Info.Config = cfg
	})
	_, err = f.a.Deliver(bg, inbox.Outbound{Identifier: phone, Body: "x"})
	if err == nil || adapter.IsUnconfirmed(err) || adapter.IsPermanent(err) {
		t.Fatalf("refused connection: %v (unconfirmed %v, permanent %v), want a plain retry", err, adapter.IsUnconfirmed(err), adapter.IsPermanent(err))
	}
}

// TestSendDuringShutdownIsRecorded: the worker is stopped while Telnyx
// answers; the answer is recorded all the same (else the item would stay in
// flight, and the next claim would call a sent message unconfirmed).
func TestSendDuringShutdownIsRecorded(t *testing.T) {
	ctx, stop := context.WithCancel(bg)
	defer stop()
	f := setup(t, telnyxtest.Options{}, func(d *adapter.Deps) {
		d.HTTP = &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			resp, err := http.DefaultTransport.RoundTrip(r)
			if err == nil {
				resp.Body = closeHook{resp.Body, stop} // the worker stops once the answer is read
			}
			return resp, err
		})}
	})
	conv := f.inbound(t, "Are you open today?")
	m, err := f.svc.Reply(bg, f.agent, conv, "Until 6pm")
	if err != nil {
		t.Fatal(err)
	}
	(&channels.Worker{Inbox: f.svc, Log: slog.New(slog.DiscardHandler)}).RunOnce(ctx)
	if ctx.Err() == nil {
		t.Fatal("the worker was not stopped during the send")
	}
	got := f.message(t, m.ID)
	if s := str(got.DeliveryStatus); s != "sent" || got.ExternalID == nil || *got.ExternalID != f.tx.Sent()[0].ID {
		t.Fatalf("status %s, provider id %v", s, got.ExternalID)
	}
	if n := f.count(t, `SELECT count(*) FROM outbox WHERE delivered_at IS NULL OR in_flight`); n != 0 {
		t.Fatalf("%d outbox items left open", n)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type closeHook struct {
	io.ReadCloser
	hook func()
}

func (c closeHook) Close() error {
	err := c.ReadCloser.Close()
	c.hook()
	return err
}
