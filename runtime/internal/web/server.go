// Package web serves the runtime's UI (server-rendered html/template with
// htmx) and its JSON API. Routes live in routes.go, and each handler in a
// file named for its action (conversation_update.go, api_token_create.go);
// what handlers share of reading requests and writing answers is in
// request.go and response.go. A handler returns an error that one wrapper
// maps to a status code. Handlers reach the data through the services in
// Options only.
package web

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/audit"
	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/canned"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels"
	"github.com/switchboard-dev/switchboard/runtime/internal/crm"
	"github.com/switchboard-dev/switchboard/runtime/internal/export"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/integrations"
	"github.com/switchboard-dev/switchboard/runtime/internal/invite"
	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/oauth"
	"github.com/switchboard-dev/switchboard/runtime/internal/session"
	"github.com/switchboard-dev/switchboard/runtime/internal/team"
	"github.com/switchboard-dev/switchboard/runtime/internal/token"
	"github.com/switchboard-dev/switchboard/runtime/internal/user"
	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

//go:embed static
var staticFS embed.FS

// Options configure the server.
type Options struct {
	Workspace   string
	DisplayName string
	// Retention is what the workspace's RetentionPolicy says, for admins.
	Retention     RetentionSettings
	PublicURL     string
	SecureCookies bool
	SessionTTL    time.Duration
	InviteTTL     time.Duration
	Inbox         *inbox.Service
	CRM           *crm.Service
	Users         *user.Service
	Teams         *team.Service
	Invites       *invite.Service
	Tokens        *token.Service
	Sessions      *session.Service
	Canned        *canned.Service
	Audit         *audit.Service
	APIChannel    *channels.API
	Live          *live.Hub
	Log           *slog.Logger
	// TrustedProxies are the proxies whose X-Forwarded-For entries are
	// believed when finding a client's address (see clientAddr); none by
	// default, so the connection's peer is the client.
	TrustedProxies []netip.Prefix
	// Ready reports whether the runtime's dependencies answer (for /readyz).
	Ready    func(ctx context.Context) error
	Registry *prometheus.Registry
	// Integrations are the workspace's connected Integrations and their
	// adapters; nil when the runtime runs none (some tests).
	Integrations Integrations
	// Webhooks serves the providers' webhooks at /webhooks/<type>/<name>
	// (package integrations); nil serves none.
	Webhooks http.Handler
	// OAuth keeps the OAuth connections admins start (microsoft
	// Integrations); nil connects none.
	OAuth *oauth.Service
	// Ledger is the workspace's erasure ledger (runtime/privacy): every
	// erasure appends to it before it commits. Nil refuses erasures.
	Ledger *privacy.Ledger
	// Exports builds and serves the owner's whole-workspace exports; nil
	// serves none (503).
	Exports *export.Service
}

// Integrations is the runtime's view of its connected Integrations
// (implemented by integrations.Manager).
type Integrations interface {
	// Statuses lists them with what their adapters last reported.
	Statuses() []integrations.Status
	// Get returns one's open adapter by Integration name.
	Get(name string) (adapter.Adapter, bool)
	// OfType returns the open adapters of one type ("shopify", ...).
	OfType(t string) []adapter.Adapter
}

// RetentionSettings are the workspace's retention settings as the operator
// passes them (runtime/contract): the operator enforces them; the runtime
// shows them to admins.
type RetentionSettings struct {
	// Policy names the RetentionPolicy ("" for the built-in defaults).
	Policy string
	// Categories are "category=retainFor:action", comma-separated.
	Categories string
	// DSRDeadline is how long a rights request may take, e.g. 30d.
	DSRDeadline string
	// BackupRetainFor is how long a backup lives after it is taken, and
	// BackupAfterDeletion how long backups outlive the workspace's
	// deletion, unless BackupShredOnDelete makes them unreadable then.
	BackupRetainFor     string
	BackupAfterDeletion string
	BackupShredOnDelete bool
	// NoBackups says that no backup is taken (the operator has no backup
	// store for the database server).
	NoBackups bool
	// CredentialsAfterDisconnect is how long a disconnected Integration's
	// credentials stay in Vault, e.g. 0d.
	CredentialsAfterDisconnect string
	// Region is the database server's region label ("" when unset): where
	// the workspace's data lives, for the public privacy page.
	Region string
}

// RetentionRule is one category's retention, for the settings page.
type RetentionRule struct{ Category, RetainFor, Action string }

// Rules parses Categories; malformed items are left out.
func (r RetentionSettings) Rules() []RetentionRule {
	var out []RetentionRule
	for _, item := range strings.Split(r.Categories, ",") {
		cat, rest, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		retain, action, _ := strings.Cut(rest, ":")
		out = append(out, RetentionRule{Category: cat, RetainFor: retain, Action: action})
	}
	return out
}

// LoginWindow is how long a failed sign-in counts against the rate limits.
const LoginWindow = 15 * time.Minute

// Sign-in rate limits, per LoginWindow. One client address may fail
// loginPerAddr times whatever the accounts, and loginPerPair times for one
// account. An account is not locked: past loginPerEmail failures from all
// addresses together, it is under attack, and only an address with no
// failure of its own for it gets a try. So an attacker cannot keep its owner
// out, who signs in from another address; and an attacker with many
// addresses gets one guess per address per window instead of loginPerPair.
const (
	loginPerAddr  = 20
	loginPerPair  = 5
	loginPerEmail = 10
)

// passwordGuesses is how many wrong current passwords a member may give
// when changing it, per LoginWindow: a stolen session is no way to find
// the password.
const passwordGuesses = 5

// MaxRequestBody bounds every request body.
const MaxRequestBody = 12 << 20

// Server is the runtime's HTTP face.
type Server struct {
	Options
	tmpl         *templates
	loginByAddr  *auth.Limiter
	loginByPair  *auth.Limiter
	loginByEmail *auth.Limiter
	// passwordByUser counts wrong current passwords given to change one.
	passwordByUser *auth.Limiter
	metrics        *metrics
	static         http.Handler
	mux            *http.ServeMux
	// closing is closed when the server shuts down, ending event streams
	// so that draining does not wait for them.
	closing   chan struct{}
	closeOnce sync.Once
}

// Shutdown ends the live event streams; pass it to http.Server.RegisterOnShutdown.
func (s *Server) Shutdown() { s.closeOnce.Do(func() { close(s.closing) }) }

// New builds the server and parses the templates once.
func New(o Options) (*Server, error) {
	if o.SessionTTL == 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.InviteTTL == 0 {
		o.InviteTTL = 72 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	t, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	s := &Server{
		Options:        o,
		tmpl:           t,
		loginByAddr:    o.Sessions.Limiter("addr", loginPerAddr, LoginWindow),
		loginByPair:    o.Sessions.Limiter("email+addr", loginPerPair, LoginWindow),
		loginByEmail:   o.Sessions.Limiter("email", loginPerEmail, LoginWindow),
		passwordByUser: o.Sessions.Limiter("password", passwordGuesses, LoginWindow),
		metrics:        newMetrics(o.Registry),
		static:         http.StripPrefix("/static/", staticHandler(sub)),
		mux:            http.NewServeMux(),
		closing:        make(chan struct{}),
	}
	s.routes()
	if o.CRM != nil {
		o.Registry.MustRegister(newRequestsCollector(s)) // pending and overdue rights requests
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	if s.SecureCookies {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	// No request body may be larger than the largest any route accepts (a
	// CSV import), whatever the route: forms are parsed before handlers run.
	if r.ContentLength > MaxRequestBody {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": map[string]string{"code": "too_large", "message": "the request body is too large"}})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBody)
	s.mux.ServeHTTP(w, r)
}

// staticHandler serves embedded assets with long caching: their URLs carry
// a content version (see assetURL).
func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServer(http.FS(fsys))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	})
}
