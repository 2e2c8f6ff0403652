// Package app wires the runtime together: configuration, Vault, database,
// services and the HTTP server, with a graceful shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/audit"
	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/canned"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels"
	"github.com/switchboard-dev/switchboard/runtime/internal/config"
	"github.com/switchboard-dev/switchboard/runtime/internal/crm"
	"github.com/switchboard-dev/switchboard/runtime/internal/export"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/integrations"
	"github.com/switchboard-dev/switchboard/runtime/internal/invite"
	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/oauth"
	"github.com/switchboard-dev/switchboard/runtime/internal/secrets"
	"github.com/switchboard-dev/switchboard/runtime/internal/session"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/team"
	"github.com/switchboard-dev/switchboard/runtime/internal/token"
	"github.com/switchboard-dev/switchboard/runtime/internal/user"
	"github.com/switchboard-dev/switchboard/runtime/internal/web"
)

// App is a started runtime.
type App struct {
	Cfg   *config.Config
	Vault *secrets.Vault
	Store *store.Store
	Inbox *inbox.Service
	Live  *live.Hub
	// Integrations runs the channel and service adapters.
	Integrations *integrations.Manager
	// Exports builds the owner's workspace exports.
	Exports *export.Service
	Web     *web.Server
	Log     *slog.Logger
	server  *http.Server
	ln      net.Listener
}

// Start brings the runtime up to the point of serving: Vault login, database
// credentials, migrations, the first owner, the listener. Ready is then true.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (*App, error) {
	a := &App{Cfg: cfg, Log: log}
	v, err := secrets.Login(ctx, secrets.Options{
		Addr: cfg.VaultAddr, KVMount: cfg.VaultKVMount, Path: cfg.VaultPath,
		AuthMount: cfg.VaultAuthMount, Role: cfg.VaultAuthRole, TokenPath: cfg.VaultTokenPath, Token: cfg.VaultToken, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	a.Vault = v
	db, _, err := v.Read(ctx, contract.EntryDatabase)
	if err != nil {
		return nil, fmt.Errorf("reading the database credentials: %w", err)
	}
	if db[contract.DatabaseDSN] == "" {
		return nil, errors.New("vault entry " + contract.EntryDatabase + " has no " + contract.DatabaseDSN)
	}
	if a.Store, err = store.Open(ctx, db[contract.DatabaseDSN], contract.RuntimePoolSize); err != nil {
		return nil, err
	}
	if err := a.Store.Migrate(ctx); err != nil {
		a.Store.Close()
		return nil, err
	}
	if err := a.bootstrapOwner(ctx); err != nil {
		a.Store.Close()
		return nil, err
	}
	a.Live = live.New(a.Store.Pool, log)
	apiChannel := &channels.API{Store: a.Store, Client: channels.NewWebhookClient(cfg.WebhookAllowPrivateNetworks)}
	a.Inbox = inbox.New(a.Store, a.Live, apiChannel)
	a.Integrations = &integrations.Manager{Vault: a.Vault, Inbox: a.Inbox, Store: a.Store, Log: log, PublicURL: cfg.PublicURL.String()}
	a.Inbox.Resolve = a.Integrations.Channel
	a.Exports = export.New(a.Store, log)
	registry := prometheus.NewRegistry()
	registry.MustRegister(a.Integrations.Collectors()...)
	a.Web, err = web.New(web.Options{
		Workspace: cfg.Workspace, DisplayName: cfg.DisplayName, PublicURL: cfg.PublicURL.String(), SecureCookies: cfg.SecureCookies(),
		Retention: web.RetentionSettings{Policy: cfg.RetentionPolicy, Categories: cfg.Retention, DSRDeadline: cfg.DSRDeadline,
			BackupRetainFor: cfg.BackupRetainFor, BackupAfterDeletion: cfg.BackupAfterDeletion, BackupShredOnDelete: cfg.BackupShredOnDelete, NoBackups: cfg.NoBackups,
			CredentialsAfterDisconnect: cfg.CredentialsAfterDisconnect, Region: cfg.Region},
		SessionTTL: cfg.SessionTTL, TrustedProxies: cfg.TrustedProxies, Live: a.Live, Log: log,
		Inbox: a.Inbox, CRM: &crm.Service{Store: a.Store}, APIChannel: apiChannel, Users: user.New(a.Store), Teams: team.New(a.Store),
		Invites: invite.New(a.Store), Tokens: token.New(a.Store), Sessions: session.New(a.Store), Canned: canned.New(a.Store),
		Audit: audit.New(a.Store), Registry: registry, Integrations: a.Integrations, Webhooks: a.Integrations, OAuth: oauth.New(a.Store),
		Ledger: a.Vault.Ledger(cfg.ErasureLedger), Exports: a.Exports,
		Ready: func(ctx context.Context) error {
			if err := a.Store.Ping(ctx); err != nil {
				return errors.New("database unreachable")
			}
			if err := a.Vault.Ping(ctx); err != nil {
				return errors.New("vault unreachable")
			}
			return nil
		},
	})
	if err != nil {
		a.Store.Close()
		return nil, err
	}
	if a.ln, err = net.Listen("tcp", cfg.ListenAddr); err != nil {
		a.Store.Close()
		return nil, fmt.Errorf("listening on %s: %w", cfg.ListenAddr, err)
	}
	a.server = &http.Server{
		Handler:           a.Web,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	a.server.RegisterOnShutdown(a.Web.Shutdown)
	return a, nil
}

// Addr is the address the runtime listens on.
func (a *App) Addr() string { return a.ln.Addr().String() }

// Serve runs the server and background work until ctx ends, then drains
// in-flight requests for up to the configured shutdown timeout.
func (a *App) Serve(ctx context.Context) error {
	bg, stopBg := context.WithCancel(context.Background())
	defer stopBg()
	go a.Vault.KeepAlive(bg)
	go a.Live.Run(bg)
	integrationsDone := make(chan struct{})
	go func() { defer close(integrationsDone); a.Integrations.Run(bg) }()
	go (&channels.Worker{Inbox: a.Inbox, Log: a.Log}).Run(bg)
	go a.housekeeping(bg)

	errc := make(chan error, 1)
	go func() { errc <- a.server.Serve(a.ln) }()
	a.Log.Info("serving", "addr", a.Addr(), "workspace", a.Cfg.Workspace)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Log.Info("shutting down: draining requests")
	sctx, cancel := context.WithTimeout(context.Background(), a.Cfg.ShutdownTimeout)
	defer cancel()
	err := a.server.Shutdown(sctx)
	stopBg()
	a.Exports.Close()  // an export being built here is marked failed (interrupted)
	<-integrationsDone // adapters closed: no credential outlives the server
	a.Store.Close()
	if err != nil {
		return fmt.Errorf("draining: %w", err)
	}
	return nil
}

// housekeeping wakes snoozed conversations and removes expired sessions,
// failed sign-ins that no longer count, and expired workspace exports (and
// marks failed those whose builder died).
func (a *App) housekeeping(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		if ids, err := a.Store.WakeSnoozed(ctx); err == nil {
			for _, id := range ids {
				a.Live.Publish(ctx, live.Event{Type: "conversation.updated", ConversationID: id})
			}
		}
		_, _ = a.Store.DeleteExpiredSessions(ctx)
		_, _ = a.Store.DeleteLoginFailuresBefore(ctx, time.Now().Add(-web.LoginWindow))
		_, _ = a.Exports.Sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// bootstrapOwner creates the first owner from Vault's bootstrap entry when
// the workspace has no users yet. Its password hash came from the operator;
// the user must change the password at first sign-in.
func (a *App) bootstrapOwner(ctx context.Context) error {
	n, err := a.Store.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	b, _, err := a.Vault.Read(ctx, contract.EntryBootstrap)
	if errors.Is(err, secrets.ErrNotFound) {
		a.Log.Warn("no users and no bootstrap entry in vault: nobody can sign in until the operator writes one")
		return nil
	}
	if err != nil {
		return err
	}
	if b[contract.BootstrapEmail] == "" || b[contract.BootstrapPasswordHash] == "" {
		return errors.New("vault entry " + contract.EntryBootstrap + " lacks " + contract.BootstrapEmail + " or " + contract.BootstrapPasswordHash)
	}
	name := b[contract.BootstrapName]
	if name == "" {
		name = "Owner"
	}
	_, err = a.Store.CreateUser(ctx, a.Store.Pool, &store.User{Email: auth.NormalizeEmail(b[contract.BootstrapEmail]), Name: name, Role: string(auth.Owner),
		PasswordHash: b[contract.BootstrapPasswordHash], MustChangePassword: b[contract.BootstrapMustChangePassword] != "false"})
	if errors.Is(err, store.ErrConflict) { // another replica was first
		return nil
	}
	if err == nil {
		a.Log.Info("created the first owner from the operator's bootstrap entry")
	}
	return err
}
