// Package integrations runs the workspace's channel and service adapters.
// It learns the workspace's Integrations from the manifest the operator
// writes to Vault (runtime/contract), with no Kubernetes API token: each
// ManifestPollInterval it reads the manifest, opens an adapter for each new
// Integration with the credentials of the version the manifest names,
// reopens one whose credentials rotated or whose config changed, and closes
// one that left the manifest (disconnected or deleted). A closed adapter
// drops its credentials, and the Manager keeps no copy of them.
//
// It serves the providers' webhooks at /webhooks/<type>/<name>, and writes
// what each adapter reports (contract.ChannelHealth) to the adapter's
// health entry in Vault, which the operator copies into the Integration's
// Ready condition.
package integrations

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/secrets"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Vault is what the Manager needs of the runtime's Vault subtree.
type Vault interface {
	Read(ctx context.Context, name string) (map[string]string, int, error)
	ReadVersion(ctx context.Context, name string, version int) (map[string]string, error)
	Write(ctx context.Context, name string, data map[string]string, cas int) (int, error)
}

// Manager runs the adapters.
type Manager struct {
	Vault Vault
	Inbox *inbox.Service
	Store *store.Store
	Log   *slog.Logger
	// HTTP is the adapters' client for provider APIs; nil is a client with
	// a 30 s timeout.
	HTTP *http.Client
	// Interval is how often the manifest is read; 0 is
	// contract.ManifestPollInterval.
	Interval time.Duration
	Now      func() time.Time
	// PublicURL is the workspace's public URL, for adapters (adapter.Deps).
	PublicURL string
	// StopTimeout bounds how long a closing adapter's Run may take to
	// return before its credentials are dropped all the same.
	StopTimeout time.Duration

	metrics *metrics
	once    sync.Once

	mu      sync.RWMutex
	running map[string]*running
	// manifestVersion is the manifest's Vault version last applied.
	manifestVersion int
	// failed remembers, per Integration, the manifest entry that could not
	// be opened, so it is retried on a change or after a pause, not on
	// every poll.
	failed map[string]failure
	// skipped are the Integrations of types this runtime does not use yet.
	skipped map[string]contract.ChannelInfo

	hmu    sync.Mutex
	health map[string]*healthState
}

type running struct {
	name    string
	info    contract.ChannelInfo
	adapter adapter.Adapter
	cancel  context.CancelFunc
	done    chan struct{}
}

type failure struct {
	info contract.ChannelInfo
	at   time.Time
}

type healthState struct {
	h       contract.ChannelHealth
	dirty   bool
	version int // the health entry's Vault version, for check-and-set; -1 unknown
}

// Status is an Integration as tenant admins see it.
type Status struct {
	Name, Type, Key string
	// State is a contract.Health* state, or "" before the adapter reported.
	State, Code, Message string
	At                   time.Time
}

// Healthy says whether nothing needs an admin's attention.
func (s Status) Healthy() bool {
	return s.State == "" || s.State == contract.HealthConnected
}

func (m *Manager) init() {
	m.once.Do(func() {
		if m.Log == nil {
			m.Log = slog.Default()
		}
		if m.HTTP == nil {
			m.HTTP = &http.Client{Timeout: 30 * time.Second}
		}
		if m.Interval == 0 {
			m.Interval = contract.ManifestPollInterval
		}
		if m.StopTimeout == 0 {
			m.StopTimeout = 3 * time.Second
		}
		m.running = map[string]*running{}
		m.failed = map[string]failure{}
		m.skipped = map[string]contract.ChannelInfo{}
		m.health = map[string]*healthState{}
		m.metrics = newMetrics()
	})
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Run reads the manifest until ctx ends, then closes every adapter.
func (m *Manager) Run(ctx context.Context) {
	m.init()
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	for {
		if err := m.Sync(ctx); err != nil && ctx.Err() == nil {
			m.Log.Warn("reading the integrations manifest failed; the adapters keep running", "error", err.Error())
		}
		m.flushHealth(ctx)
		select {
		case <-ctx.Done():
			m.closeAll()
			return
		case <-t.C:
		}
	}
}

// Sync applies the manifest once: it opens, reopens and closes adapters.
func (m *Manager) Sync(ctx context.Context) error {
	m.init()
	data, version, err := m.Vault.Read(ctx, contract.EntryChannels)
	if errors.Is(err, secrets.ErrNotFound) {
		data, version, err = nil, 0, nil
	}
	if err != nil {
		return err
	}
	manifest, err := contract.DecodeManifest(data[contract.ChannelManifestKey])
	if err != nil {
		return errors.New("the integrations manifest is not valid JSON")
	}
	m.mu.Lock()
	m.manifestVersion = version
	var stop []*running
	for name, r := range m.running {
		want, ok := manifest.Integrations[name]
		if !ok || !r.info.Equal(want) {
			stop = append(stop, r)
			delete(m.running, name)
		}
	}
	for name := range m.failed {
		if _, ok := manifest.Integrations[name]; !ok {
			delete(m.failed, name)
		}
	}
	for name := range m.skipped {
		if _, ok := manifest.Integrations[name]; !ok {
			delete(m.skipped, name)
		}
	}
	m.mu.Unlock()
	for _, r := range stop {
		m.stop(r)
		m.Log.Info("integration closed", "integration", r.name, "type", r.info.Type)
	}

	names := make([]string, 0, len(manifest.Integrations))
	for name := range manifest.Integrations {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		info := manifest.Integrations[name]
		m.mu.RLock()
		_, open := m.running[name]
		f, failedBefore := m.failed[name]
		s, skipped := m.skipped[name]
		m.mu.RUnlock()
		if open || (skipped && s.Equal(info)) || (failedBefore && f.info.Equal(info) && m.now().Sub(f.at) < 30*time.Second) {
			continue
		}
		if err := m.start(ctx, name, info); errors.Is(err, errSkipped) {
			m.mu.Lock()
			m.skipped[name] = info
			m.mu.Unlock()
			continue
		} else if err != nil {
			m.mu.Lock()
			m.failed[name] = failure{info: info, at: m.now()}
			m.mu.Unlock()
			if ctx.Err() == nil {
				m.Log.Warn("opening an integration failed", "integration", name, "type", info.Type, "error", err.Error())
			}
			continue
		}
		m.mu.Lock()
		delete(m.failed, name)
		m.mu.Unlock()
	}
	return nil
}

// unused are the Integration types this runtime keeps no adapter for yet,
// with why: they are neither opened nor reported as a problem.
var unused = map[string]string{
	"stripe": "billing, which uses Stripe, is not built yet",
}

// start opens one Integration's adapter.
func (m *Manager) start(ctx context.Context, name string, info contract.ChannelInfo) error {
	factory, ok := adapter.Lookup(info.Type)
	if why, skip := unused[info.Type]; skip && !ok {
		m.Log.Info("integration not opened: this runtime does not use its type yet", "integration", name, "type", info.Type, "why", why)
		return errSkipped
	}
	if !ok {
		m.report(name, info, contract.HealthMisconfigured, "", "this runtime has no adapter for type "+info.Type)
		return errors.New("no adapter for type " + info.Type)
	}
	creds, err := m.Vault.ReadVersion(ctx, contract.IntegrationEntry(name), info.CredentialsVersion)
	if err != nil {
		// Destroyed under us (a disconnection the manifest does not show
		// yet), or Vault is down: try again on a later poll.
		return err
	}
	d := adapter.Deps{
		Name: name, Key: contract.ChannelKey(info.Type, name), Info: info, Credentials: creds,
		Inbox: m.Inbox, Store: m.Store, Log: m.Log.With("integration", name, "type", info.Type), HTTP: m.HTTP, Now: m.Now, PublicURL: m.PublicURL,
		Report: func(state, code, message string) { m.report(name, info, state, code, message) },
	}
	for _, t := range contract.TypesWithTokens {
		if t == info.Type {
			d.Tokens = &tokenStore{vault: m.Vault, entry: contract.TokensEntry(name)}
		}
	}
	a, err := factory(d)
	clear(creds) // the adapter keeps what it needs; this map goes
	if err != nil {
		m.report(name, info, contract.HealthMisconfigured, "", err.Error())
		return err
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &running{name: name, info: info, adapter: a, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer func() {
			if p := recover(); p != nil {
				m.Log.Error("an adapter panicked; it stays closed until its Integration changes", "integration", name, "type", info.Type)
				m.report(name, info, contract.HealthMisconfigured, "", "the adapter stopped on an internal error")
			}
		}()
		a.Run(rctx)
	}()
	m.mu.Lock()
	m.running[name] = r
	m.mu.Unlock()
	m.Log.Info("integration opened", "integration", name, "type", info.Type, "credentialsVersion", info.CredentialsVersion)
	return nil
}

// stop ends an adapter's Run, waiting up to StopTimeout, and closes it.
func (m *Manager) stop(r *running) {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(m.StopTimeout):
		m.Log.Warn("an adapter did not stop in time; closing it anyway", "integration", r.name)
	}
	r.adapter.Close()
}

func (m *Manager) closeAll() {
	m.mu.Lock()
	all := make([]*running, 0, len(m.running))
	for name, r := range m.running {
		all = append(all, r)
		delete(m.running, name)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range all {
		wg.Add(1)
		go func() { defer wg.Done(); m.stop(r) }()
	}
	wg.Wait()
}

// Get returns the open adapter of an Integration.
func (m *Manager) Get(name string) (adapter.Adapter, bool) {
	m.init()
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, ok := m.running[name]
	if !ok {
		return nil, false
	}
	return r.adapter, true
}

// OfType returns the open adapters of a type, by name.
func (m *Manager) OfType(t string) []adapter.Adapter {
	m.init()
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := make([]string, 0, len(m.running))
	for name, r := range m.running {
		if r.info.Type == t {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := make([]adapter.Adapter, 0, len(names))
	for _, n := range names {
		out = append(out, m.running[n].adapter)
	}
	return out
}

// Channel finds the open adapter that carries a channel key, for the inbox
// (inbox.Service.Resolve).
func (m *Manager) Channel(key string) (inbox.Channel, bool) {
	_, name, ok := contract.SplitChannelKey(key)
	if !ok {
		return nil, false
	}
	a, ok := m.Get(name)
	if !ok {
		return nil, false
	}
	s, ok := a.(inbox.Channel)
	if !ok || s.Name() != key {
		return nil, false
	}
	return s, true
}

// Statuses lists the Integrations of the manifest last read, with what
// their adapters reported.
func (m *Manager) Statuses() []Status {
	m.init()
	m.mu.RLock()
	type entry struct {
		name string
		info contract.ChannelInfo
	}
	var entries []entry
	for name, r := range m.running {
		entries = append(entries, entry{name, r.info})
	}
	for name, f := range m.failed {
		entries = append(entries, entry{name, f.info})
	}
	m.mu.RUnlock()
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	m.hmu.Lock()
	defer m.hmu.Unlock()
	out := make([]Status, 0, len(entries))
	for _, e := range entries {
		s := Status{Name: e.name, Type: e.info.Type, Key: contract.ChannelKey(e.info.Type, e.name)}
		if h := m.health[e.name]; h != nil && h.h.UID == e.info.UID {
			s.State, s.Code, s.Message, s.At = h.h.State, h.h.Code, h.h.Message, h.h.At
		}
		out = append(out, s)
	}
	return out
}

// report records what an adapter found. Only a change is written to Vault,
// by the next flush.
func (m *Manager) report(name string, info contract.ChannelInfo, state, code, message string) {
	m.init()
	if len(message) > contract.MaxHealthMessage {
		message = message[:contract.MaxHealthMessage]
	}
	m.hmu.Lock()
	h := m.health[name]
	if h == nil {
		h = &healthState{version: -1}
		m.health[name] = h
	}
	changed := h.h.State != state || h.h.Code != code || h.h.Message != message || h.h.UID != info.UID ||
		h.h.CredentialsVersion != info.CredentialsVersion
	if changed {
		h.h = contract.ChannelHealth{State: state, Code: code, Message: message, UID: info.UID,
			CredentialsVersion: info.CredentialsVersion, At: m.now().UTC().Truncate(time.Second)}
		h.dirty = true
	}
	m.hmu.Unlock()
	if changed {
		m.metrics.health.WithLabelValues(name, info.Type, state).Inc()
		if state != contract.HealthConnected {
			m.Log.Warn("integration unhealthy", "integration", name, "type", info.Type, "state", state, "code", code, "message", message)
		}
	}
}

// flushHealth writes changed health reports to Vault.
func (m *Manager) flushHealth(ctx context.Context) {
	m.hmu.Lock()
	type write struct {
		name string
		h    contract.ChannelHealth
	}
	var writes []write
	for name, h := range m.health {
		if h.dirty {
			writes = append(writes, write{name, h.h})
			h.dirty = false
		}
	}
	m.hmu.Unlock()
	for _, w := range writes {
		_, err := m.Vault.Write(ctx, contract.HealthEntry(w.name), map[string]string{contract.ChannelHealthKey: contract.EncodeHealth(w.h)}, -1)
		if err != nil {
			if ctx.Err() == nil {
				m.Log.Warn("writing an integration's health to vault failed; retrying", "integration", w.name, "error", err.Error())
			}
			m.hmu.Lock()
			if h := m.health[w.name]; h != nil && h.h == w.h {
				h.dirty = true
			}
			m.hmu.Unlock()
		}
	}
}

var errSkipped = errors.New("type not used by this runtime")

// tokenStore is an adapter's own tokens entry.
type tokenStore struct {
	vault Vault
	entry string
}

func (t *tokenStore) Read(ctx context.Context) (map[string]string, int, error) {
	d, v, err := t.vault.Read(ctx, t.entry)
	if errors.Is(err, secrets.ErrNotFound) {
		return nil, 0, nil
	}
	return d, v, err
}

func (t *tokenStore) Write(ctx context.Context, data map[string]string, cas int) (int, error) {
	v, err := t.vault.Write(ctx, t.entry, data, cas)
	if errors.Is(err, secrets.ErrConflict) {
		return 0, adapter.ErrConflict
	}
	return v, err
}
