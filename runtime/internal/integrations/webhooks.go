package integrations

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
)

type metrics struct {
	webhooks *prometheus.CounterVec
	health   *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_runtime_webhooks_total",
			Help: "Provider webhook deliveries by integration type and result: accepted, or the reason one was refused (signature, timestamp, malformed, verify, too_large, not_found, error).",
		}, []string{"type", "result"}),
		health: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_runtime_integration_health_changes_total",
			Help: "Changes of an integration's reported health, by the state it changed to.",
		}, []string{"integration", "type", "state"}),
	}
}

// Collectors are the Manager's metrics, for the runtime's registry.
func (m *Manager) Collectors() []prometheus.Collector {
	m.init()
	return []prometheus.Collector{m.metrics.webhooks, m.metrics.health}
}

// ServeHTTP serves /webhooks/<type>/<name>. The body is read whole, up to
// adapter.MaxWebhookBody (a longer one is 413 before the adapter sees any
// of it), and handed to the adapter raw, since signatures are over the
// exact bytes. Refusals are counted and logged without the body.
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.init()
	rest, ok := strings.CutPrefix(r.URL.Path, "/webhooks/")
	typ, name, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || typ == "" || name == "" || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a, found := m.Get(name)
	recv, isRecv := a.(adapter.WebhookReceiver)
	if !found || !isRecv || m.typeOf(name) != typ || contract.WebhookPath(typ, name) != r.URL.Path {
		m.refused(typ, "not_found", name, "no connected integration with this webhook")
		http.NotFound(w, r)
		return
	}
	var body []byte
	if r.Method == http.MethodPost {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, adapter.MaxWebhookBody))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			m.refused(typ, adapter.RejectTooLarge, name, "body over the limit")
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			m.refused(typ, adapter.RejectMalformed, name, "reading the body failed")
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
	}
	status, ctype, answer, err := recv.ServeWebhook(r.Context(), r, body)
	var rej *adapter.Reject
	switch {
	case errors.As(err, &rej):
		m.refused(typ, rej.Reason, name, rej.Detail)
		code := rej.Status
		if code < 400 || code > 499 {
			code = http.StatusBadRequest
		}
		http.Error(w, http.StatusText(code), code)
		return
	case err != nil:
		m.metrics.webhooks.WithLabelValues(typ, "error").Inc()
		m.Log.Error("handling a webhook failed; the provider will retry", "integration", name, "type", typ, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	m.metrics.webhooks.WithLabelValues(typ, "accepted").Inc()
	if status == 0 {
		status = http.StatusOK
	}
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

func (m *Manager) typeOf(name string) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if r, ok := m.running[name]; ok {
		return r.info.Type
	}
	return ""
}

func (m *Manager) refused(typ, reason, name, detail string) {
	if !knownType(typ) {
		typ = "unknown" // the label set stays bounded whatever is asked for
	}
	m.metrics.webhooks.WithLabelValues(typ, reason).Inc()
	m.Log.Info("webhook refused", "type", typ, "integration", truncate(name, 63), "reason", reason, "detail", detail)
}

func knownType(t string) bool {
	for _, k := range adapter.Types() {
		if k == t {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
