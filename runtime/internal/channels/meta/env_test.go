package meta

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/emulators/metatest"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var bg = context.Background()

// report is one Deps.Report call.
type report struct{ state, code, message string }

type reports struct {
	mu   sync.Mutex
	list []report
}

func (r *reports) add(state, code, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, report{state, code, message})
}

func (r *reports) last() report {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.list) == 0 {
		return report{}
	}
	return r.list[len(r.list)-1]
}

// fixture is both adapters on one database, against one Graph emulator,
// with their webhooks served the way package integrations serves them.
type fixture struct {
	t      *testing.T
	meta   *metatest.Server
	st     *store.Store
	svc    *inbox.Service
	wa     *WhatsApp
	ms     *Messenger
	waRep  *reports
	msRep  *reports
	waHook string
	msHook string
	agent  int64
	// shift moves the inbox's clock and the adapters' (windows).
	mu    sync.Mutex
	shift time.Duration
}

func newFixture(t *testing.T, cfg metatest.Config, mutate ...func(typ string, d *adapter.Deps)) *fixture {
	t.Helper()
	f := &fixture{t: t, waRep: &reports{}, msRep: &reports{}}
	f.meta = metatest.New(cfg)
	t.Cleanup(f.meta.Close)
	f.st = storetest.NewDB(t)
	log := slog.New(slog.DiscardHandler)
	f.svc = inbox.New(f.st, live.New(f.st.Pool, log))
	f.svc.Now = f.now

	build := func(typ, name string, config, creds map[string]string, rep *reports) adapter.Adapter {
		config["apiBaseURL"] = f.meta.URL
		d := adapter.Deps{Name: name, Key: contract.ChannelKey(typ, name),
			Info:        contract.ChannelInfo{Type: typ, UID: "uid-" + name, Config: config, CredentialsVersion: 1, WebhookPath: contract.WebhookPath(typ, name)},
			Credentials: creds, Inbox: f.svc, Store: f.st, Log: log, Report: rep.add, Now: f.now}
		for _, m := range mutate {
			m(typ, &d)
		}
		factory, ok := adapter.Lookup(typ)
		if !ok {
			t.Fatalf("%s is not registered", typ)
		}
		a, err := factory(d)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	f.wa = build("whatsapp", "wa", map[string]string{"phoneNumberId": cfg.PhoneNumberID, "businessAccountId": cfg.BusinessAccountID},
		map[string]string{"accessToken": cfg.WhatsAppToken, "appSecret": cfg.AppSecret, "verifyToken": cfg.VerifyToken}, f.waRep).(*WhatsApp)
	f.ms = build("messenger", "page", map[string]string{"pageId": cfg.PageID},
		map[string]string{"pageAccessToken": cfg.PageAccessToken, "appSecret": cfg.AppSecret, "verifyToken": cfg.VerifyToken}, f.msRep).(*Messenger)
	f.svc.Resolve = func(name string) (inbox.Channel, bool) {
		switch name {
		case f.wa.Name():
			return f.wa, true
		case f.ms.Name():
			return f.ms, true
		}
		return nil, false
	}
	f.waHook = f.serve(f.wa)
	f.msHook = f.serve(f.ms)
	u, err := f.st.CreateUser(bg, f.st.Pool, &store.User{Email: "agent@acme.example", Name: "Agent", Role: "agent", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	f.agent = u.ID
	return f
}

func (f *fixture) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Now().Add(f.shift)
}

// later moves the clocks forward by d from the real time.
func (f *fixture) later(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shift = d
}

func (f *fixture) serve(a adapter.WebhookReceiver) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, adapter.MaxWebhookBody))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		status, ct, answer, err := a.ServeWebhook(r.Context(), r, body)
		var rej *adapter.Reject
		switch {
		case errors.As(err, &rej):
			http.Error(w, rej.Reason, rej.Status)
			return
		case err != nil:
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = w.Write(answer)
	}))
	f.t.Cleanup(srv.Close)
	return srv.URL
}

// deliver posts a signed payload and wants 200.
func (f *fixture) deliver(url string, body []byte) {
	f.t.Helper()
	resp, err := f.meta.Deliver(url, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.Status != http.StatusOK {
		f.t.Fatalf("webhook answered %d %s", resp.Status, resp.Body)
	}
}

// message finds a stored message by its provider id.
func (f *fixture) message(channel, externalID string) *store.Message {
	f.t.Helper()
	m, err := f.st.MessageByExternalID(bg, f.st.Pool, channel, externalID)
	if err != nil {
		f.t.Fatalf("message %s on %s: %v", externalID, channel, err)
	}
	msgs, err := f.st.Messages(bg, m.ConversationID)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, x := range msgs {
		if x.ID == m.ID {
			return x
		}
	}
	f.t.Fatalf("message %d not listed", m.ID)
	return nil
}

func (f *fixture) count(table string) int {
	f.t.Helper()
	var n int
	if err := f.st.Pool.QueryRow(bg, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// flush runs the outbox worker once: queued replies go to the emulator.
func (f *fixture) flush() {
	w := &channels.Worker{Inbox: f.svc, Log: slog.New(slog.DiscardHandler)}
	w.RunOnce(bg)
}

func (f *fixture) status(messageID int64) string {
	f.t.Helper()
	var s *string
	if err := f.st.Pool.QueryRow(bg, `SELECT delivery_status FROM messages WHERE id = $1`, messageID).Scan(&s); err != nil {
		f.t.Fatal(err)
	}
	if s == nil {
		return ""
	}
	return *s
}

func (f *fixture) externalID(messageID int64) string {
	f.t.Helper()
	var s *string
	if err := f.st.Pool.QueryRow(bg, `SELECT external_id FROM messages WHERE id = $1`, messageID).Scan(&s); err != nil {
		f.t.Fatal(err)
	}
	if s == nil {
		return ""
	}
	return *s
}

func contextWithCancel() (context.Context, context.CancelFunc) { return context.WithCancel(bg) }

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
