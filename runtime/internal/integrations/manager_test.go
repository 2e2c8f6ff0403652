package integrations

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/secrets"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
	"github.com/switchboard-dev/switchboard/test/harness"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// probe is an adapter of type "probe", for testing the Manager: it records
// what happens to it and holds its key like a real adapter does.
type probe struct {
	d       adapter.Deps
	mu      sync.Mutex
	key     string
	running bool
	closed  bool
	bodies  [][]byte
}

var (
	probesMu sync.Mutex
	probes   []*probe
)

func init() {
	adapter.Register("probe", func(d adapter.Deps) (adapter.Adapter, error) {
		if d.Credentials["key"] == "" {
			return nil, errorString("credentials lack key")
		}
		p := &probe{d: d, key: d.Credentials["key"]}
		probesMu.Lock()
		probes = append(probes, p)
		probesMu.Unlock()
		return p, nil
	})
}

type errorString string

func (e errorString) Error() string { return string(e) }

func (p *probe) Run(ctx context.Context) {
	p.mu.Lock()
	p.running = true
	p.mu.Unlock()
	p.d.Report(contract.HealthConnected, "", "")
	<-ctx.Done()
	p.mu.Lock()
	p.running = false
	p.mu.Unlock()
}

func (p *probe) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.key, p.closed = "", true
}

func (p *probe) Credentials() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.key == "" {
		return nil
	}
	return []string{p.key}
}

func (p *probe) Name() string { return p.d.Key }

func (p *probe) Deliver(context.Context, inbox.Outbound) (string, error) { return "p-1", nil }

func (p *probe) ServeWebhook(_ context.Context, r *http.Request, body []byte) (int, string, []byte, error) {
	if r.Header.Get("X-Probe-Key") != p.key {
		return 0, "", nil, adapter.Rejected(401, adapter.RejectSignature, "wrong key")
	}
	p.mu.Lock()
	p.bodies = append(p.bodies, body)
	p.mu.Unlock()
	return 200, "text/plain", []byte("ok"), nil
}

// operator writes what the operator writes: credentials and the manifest.
type operator struct {
	t     *testing.T
	kv    *vaultapi.KVv2
	path  string
	infos map[string]contract.ChannelInfo
}

func (o *operator) credentials(name, key string) int {
	s, err := o.kv.Put(context.Background(), o.path+"/"+contract.IntegrationEntry(name), map[string]any{"key": key})
	if err != nil {
		o.t.Fatal(err)
	}
	return s.VersionMetadata.Version
}

func (o *operator) publish() {
	_, err := o.kv.Put(context.Background(), o.path+"/"+contract.EntryChannels,
		map[string]any{contract.ChannelManifestKey: contract.EncodeManifest(contract.ChannelManifest{Integrations: o.infos})})
	if err != nil {
		o.t.Fatal(err)
	}
}

func start(t *testing.T) (*Manager, *operator, *vaultapi.Client) {
	t.Helper()
	v, err := harness.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	root, _ := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
	root.SetToken(harness.RootToken)
	if err := root.Sys().Mount("switchboard", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	sv, err := secrets.Login(context.Background(), secrets.Options{Addr: v.Addr(), KVMount: "switchboard", Path: "workspaces/acme", Token: harness.RootToken})
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.NewDB(t)
	log := slog.New(slog.DiscardHandler)
	m := &Manager{Vault: sv, Inbox: inbox.New(st, live.New(st.Pool, log)), Store: st, Log: log, Interval: 100 * time.Millisecond}
	return m, &operator{t: t, kv: root.KVv2("switchboard"), path: "workspaces/acme", infos: map[string]contract.ChannelInfo{}}, root
}

func TestManagerOpensRotatesAndCloses(t *testing.T) {
	ctx := context.Background()
	m, op, root := start(t)

	v1 := op.credentials("echo", "KEY-one-1b2c")
	op.infos["echo"] = contract.ChannelInfo{Type: "probe", UID: "u-1", CredentialsVersion: v1, WebhookPath: "/webhooks/probe/echo"}
	op.publish()
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ch, ok := m.Channel("probe/echo")
	if !ok || ch.Name() != "probe/echo" {
		t.Fatalf("the channel is not resolved: %v %v", ch, ok)
	}
	first := ch.(*probe)
	if got := first.Credentials(); len(got) != 1 || got[0] != "KEY-one-1b2c" {
		t.Fatalf("credentials = %v", got)
	}

	t.Run("webhooks", func(t *testing.T) {
		post := func(path, key string, body []byte) *httptest.ResponseRecorder {
			r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			r.Header.Set("X-Probe-Key", key)
			w := httptest.NewRecorder()
			m.ServeHTTP(w, r)
			return w
		}
		if w := post("/webhooks/probe/echo", "KEY-one-1b2c", []byte(`{"x":1}`)); w.Code != 200 || w.Body.String() != "ok" {
			t.Fatalf("a good delivery got %d %q", w.Code, w.Body)
		}
		if w := post("/webhooks/probe/echo", "forged", []byte(`{"x":2}`)); w.Code != 401 {
			t.Fatalf("a forged delivery got %d", w.Code)
		}
		if w := post("/webhooks/probe/echo", "KEY-one-1b2c", bytes.Repeat([]byte("a"), adapter.MaxWebhookBody+1)); w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("an oversized delivery got %d", w.Code)
		}
		for _, p := range []string{"/webhooks/probe/nope", "/webhooks/telnyx/echo", "/webhooks/probe", "/webhooks/probe/echo/x"} {
			if w := post(p, "KEY-one-1b2c", []byte(`{}`)); w.Code != 404 {
				t.Errorf("%s got %d, want 404", p, w.Code)
			}
		}
		if len(first.bodies) != 1 || string(first.bodies[0]) != `{"x":1}` {
			t.Fatalf("the adapter saw %q; only the good delivery may reach it", first.bodies)
		}
		if n := testutil.ToFloat64(m.metrics.webhooks.WithLabelValues("probe", adapter.RejectSignature)); n != 1 {
			t.Errorf("forged deliveries counted %v, want 1", n)
		}
		if n := testutil.ToFloat64(m.metrics.webhooks.WithLabelValues("probe", adapter.RejectTooLarge)); n != 1 {
			t.Errorf("oversized deliveries counted %v, want 1", n)
		}
		if n := testutil.ToFloat64(m.metrics.webhooks.WithLabelValues("probe", "accepted")); n != 1 {
			t.Errorf("accepted deliveries counted %v, want 1", n)
		}
	})

	t.Run("health reaches vault", func(t *testing.T) {
		first.d.Report(contract.HealthAuthFailed, "401", "the provider refused the key")
		m.flushHealth(ctx)
		s, err := root.KVv2("switchboard").Get(ctx, "workspaces/acme/"+contract.HealthEntry("echo"))
		if err != nil {
			t.Fatal(err)
		}
		h, err := contract.DecodeHealth(s.Data[contract.ChannelHealthKey].(string))
		if err != nil || h.State != contract.HealthAuthFailed || h.Code != "401" || h.UID != "u-1" || h.CredentialsVersion != v1 {
			t.Fatalf("health = %+v, %v", h, err)
		}
		st := m.Statuses()
		if len(st) != 1 || st[0].Healthy() || st[0].Code != "401" {
			t.Fatalf("statuses = %+v", st)
		}
		if strings.Contains(s.Data[contract.ChannelHealthKey].(string), "KEY-one") {
			t.Fatal("the health entry holds the key")
		}
	})

	t.Run("rotation without a restart", func(t *testing.T) {
		v2 := op.credentials("echo", "KEY-two-9f8e")
		op.infos["echo"] = contract.ChannelInfo{Type: "probe", UID: "u-1", CredentialsVersion: v2, WebhookPath: "/webhooks/probe/echo"}
		op.publish()
		if err := m.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		ch, _ := m.Channel("probe/echo")
		if got := ch.(*probe).Credentials(); len(got) != 1 || got[0] != "KEY-two-9f8e" {
			t.Fatalf("after rotation the adapter holds %v", got)
		}
		assertNoAdapterHolds(t, "KEY-one-1b2c")
		if !first.closed {
			t.Fatal("the adapter with the old key was not closed")
		}
	})

	t.Run("disconnect stops the adapter within 5 s", func(t *testing.T) {
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		m.Interval = contract.ManifestPollInterval
		done := make(chan struct{})
		go func() { defer close(done); m.Run(runCtx) }()
		delete(op.infos, "echo")
		op.publish()
		removed := time.Now()
		for {
			if _, ok := m.Channel("probe/echo"); !ok {
				break
			}
			if time.Since(removed) > 5*time.Second {
				t.Fatal("the adapter still runs 5 s after its Integration left the manifest")
			}
			time.Sleep(20 * time.Millisecond)
		}
		assertNoAdapterHolds(t, "KEY-two-9f8e")
		r := httptest.NewRequest(http.MethodPost, "/webhooks/probe/echo", strings.NewReader("{}"))
		r.Header.Set("X-Probe-Key", "KEY-two-9f8e")
		w := httptest.NewRecorder()
		m.ServeHTTP(w, r)
		if w.Code != 404 {
			t.Fatalf("a disconnected integration's webhook got %d", w.Code)
		}
		stop()
		<-done
	})
}

func TestManagerReportsWhatCannotOpen(t *testing.T) {
	ctx := context.Background()
	m, op, _ := start(t)
	v := op.credentials("bad", "")
	op.infos["bad"] = contract.ChannelInfo{Type: "probe", UID: "u-2", CredentialsVersion: v}
	op.infos["alien"] = contract.ChannelInfo{Type: "carrier-pigeon", UID: "u-3", CredentialsVersion: v}
	op.infos["billing"] = contract.ChannelInfo{Type: "stripe", UID: "u-4", CredentialsVersion: v}
	op.publish()
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]Status{}
	for _, s := range m.Statuses() {
		got[s.Name] = s
	}
	if got["bad"].State != contract.HealthMisconfigured || !strings.Contains(got["bad"].Message, "lack key") {
		t.Errorf("bad = %+v", got["bad"])
	}
	if got["alien"].State != contract.HealthMisconfigured || !strings.Contains(got["alien"].Message, "no adapter for type carrier-pigeon") {
		t.Errorf("alien = %+v", got["alien"])
	}
	if s, listed := got["billing"]; listed {
		t.Errorf("a stripe Integration, which this runtime does not use yet, is reported: %+v", s)
	}
}

// assertNoAdapterHolds fails if any adapter ever opened still holds key.
func assertNoAdapterHolds(t *testing.T, key string) {
	t.Helper()
	probesMu.Lock()
	defer probesMu.Unlock()
	for _, p := range probes {
		for _, c := range p.Credentials() {
			if c == key {
				t.Fatalf("an adapter (closed=%v) still holds the old key", p.closed)
			}
		}
	}
}
