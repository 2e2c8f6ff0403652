package controllers

import (
	"context"
	"fmt"
	goruntime "runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/backup/dump"
	"github.com/switchboard-dev/switchboard/controllers/config"
	"github.com/switchboard-dev/switchboard/controllers/postgres"
	"github.com/switchboard-dev/switchboard/controllers/receipts"
	"github.com/switchboard-dev/switchboard/controllers/specs"
	"github.com/switchboard-dev/switchboard/controllers/vault"
	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

var externalWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "switchboard_external_writes_total",
	Help: "Writes the operator made outside Kubernetes, by system (postgres, vault). A resync of an unchanged workspace makes none.",
}, []string{"system"})

var externalRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "switchboard_external_requests_total",
	Help: "Requests the operator sent outside Kubernetes, reads and writes, by system (postgres: statements, vault: HTTP requests).",
}, []string{"system"})

func init() {
	metrics.Registry.MustRegister(externalWrites, externalRequests)
}

// ManagerOptions are the knobs tests turn.
type ManagerOptions struct {
	// OnExternalWrite is called for every write to Postgres or Vault.
	OnExternalWrite func(system, target string)
	// SkipNameValidation allows several managers in one process (tests).
	SkipNameValidation bool
	// BeforeDeletionStep is called before each deletion step of a workspace.
	BeforeDeletionStep func(ctx context.Context, workspace, step string)
	// StatsInterval is how often the by-phase gauges are recounted (default 15s).
	StatsInterval time.Duration
	// BeforeDump is called before each backup's dump (tests watch the queue).
	BeforeDump func(ctx context.Context, backup string)
	// DuringUpload is called once an artifact's first bytes went to the store.
	DuringUpload func(ctx context.Context, backup string)
	// BeforeRestore is called before a workspace's restore.
	BeforeRestore func(ctx context.Context, workspace string)
	// Now is the expiry controller's clock (tests move it); nil is time.Now.
	Now func() time.Time
	// IntegrationHealthPoll is how often a connected Integration's runtime
	// health report is read (default 15s).
	IntegrationHealthPoll time.Duration
}

// Scheme holds every type the operator reads or writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(tenancyv1.AddToScheme(s))
	return s
}

// CacheOptions restrict the cache of child kinds to objects the operator
// manages, so memory does not grow with the rest of the cluster.
func CacheOptions() cache.Options {
	managed := labels.SelectorFromSet(labels.Set{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue})
	byObject := map[client.Object]cache.ByObject{}
	for _, o := range []client.Object{
		&corev1.Namespace{}, &corev1.ResourceQuota{}, &corev1.LimitRange{}, &corev1.ServiceAccount{},
		&networkingv1.NetworkPolicy{}, &appsv1.Deployment{}, &corev1.Service{}, &networkingv1.Ingress{}, &policyv1.PodDisruptionBudget{},
		&corev1.ConfigMap{}, &corev1.Pod{},
	} {
		byObject[o] = cache.ByObject{Label: managed}
	}
	// Nothing the operator does reads managedFields, and they are a large
	// share of each cached object: with 2,000 workspaces (about 25,000
	// cached objects) they cost tens of MiB (docs/performance.md).
	return cache.Options{ByObject: byObject, DefaultTransform: cache.TransformStripManagedFields()}
}

// NewManager builds the operator: a manager with the Workspace and
// Integration controllers wired to Postgres and Vault.
func NewManager(restCfg *rest.Config, cfg *config.Config, o ManagerOptions) (manager.Manager, error) {
	onWrite := func(system, target string) {
		externalWrites.WithLabelValues(system).Inc()
		if o.OnExternalWrite != nil {
			o.OnExternalWrite(system, target)
		}
	}
	cacheOpts := CacheOptions()
	if cfg.SyncPeriod > 0 {
		cacheOpts.SyncPeriod = ptr.To(cfg.SyncPeriod)
	}
	if cfg.PprofBindAddress != "" && cfg.PprofBindAddress != "0" {
		// Sample contended locks and blocking, for the mutex and block
		// profiles; the cost is small and only paid while profiling is on.
		goruntime.SetMutexProfileFraction(10)
		goruntime.SetBlockProfileRate(int(100 * time.Microsecond))
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                  Scheme(),
		Cache:                   cacheOpts,
		Metrics:                 metricsserver.Options{BindAddress: cfg.MetricsBindAddress},
		PprofBindAddress:        cfg.PprofBindAddress,
		HealthProbeBindAddress:  cfg.HealthProbeAddress,
		LeaderElection:          cfg.LeaderElect,
		LeaderElectionNamespace: cfg.LeaderElectionNamespace,
		LeaderElectionID:        "switchboard-operator.tenancy.switchboard.dev",
		Controller:              ctrlConfig(o.SkipNameValidation),
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}

	vc, err := vault.New(vault.Config{
		Address: cfg.VaultAddress, Token: cfg.VaultToken,
		KVMount: cfg.VaultKVMount, TransitMount: cfg.VaultTransitMount, AuthMount: cfg.VaultAuthMount,
		KubernetesHost: cfg.VaultKubernetesHost, KubernetesCA: cfg.VaultKubernetesCA, ReviewerJWTFile: cfg.VaultReviewerJWTFile,
		Audience:  cfg.VaultRoleAudience,
		OnRequest: func() { externalRequests.WithLabelValues("vault").Inc() },
	}, func(path string) { onWrite("vault", path) })
	if err != nil {
		return nil, err
	}
	db := postgres.New(cfg.DatabaseServers, func(server string) { onWrite("postgres", server) })
	db.CountQueries(func(string) { externalRequests.WithLabelValues("postgres").Inc() })
	db.SetPoolSize(max(4, cfg.MaxConcurrent))

	if err := checkBackupTools(cfg, db); err != nil {
		return nil, err
	}
	dbEgress, dbRegion := map[string]config.Egress{}, map[string]string{}
	for name, s := range cfg.DatabaseServers {
		dbEgress[name], dbRegion[name] = s.Egress, s.Region
	}

	backups := NewBackupEnv(&BackupEnv{
		DB: db, Vault: vc,
		Stores:      &Stores{Default: cfg.BackupStore, DefaultCredentials: cfg.BackupStoreCredentials, Servers: cfg.DatabaseServers},
		Compression: cfg.BackupCompression,
		PgDump:      cfg.PgDump, PgRestore: cfg.PgRestore,
		BeforeDump: o.BeforeDump, DuringUpload: o.DuringUpload, BeforeRestore: o.BeforeRestore,
	}, cfg.MaxConcurrentBackups)
	ledgerOf := func(workspace, uid string) *privacy.Ledger {
		return privacy.NewLedger(vc.API(), cfg.VaultKVMount, contract.LedgerPrefix(workspace, uid))
	}
	backups.ReplayErasures = func(ctx context.Context, ws *tenancyv1.Workspace, b *tenancyv1.Backup, db dump.Database) (int, error) {
		return replayErasures(ctx, ledgerOf(b.Spec.Workspace, b.Status.WorkspaceUID), b, db)
	}
	backups.DestroyLedger = func(ctx context.Context, workspace, uid string) (int, error) {
		n, err := ledgerOf(workspace, uid).Destroy(ctx)
		if n > 0 {
			onWrite("vault", contract.LedgerPrefix(workspace, uid))
		}
		return n, err
	}

	receiptLog := receipts.New(mgr.GetClient(), cfg.ReceiptsNamespace, receipts.Options{Reader: mgr.GetAPIReader()})

	// Periodic work missed before this moment (while the operator was down)
	// is spread over --periodic-spread from it.
	started := time.Now()
	if o.Now != nil {
		started = o.Now()
	}
	if err := (&WorkspaceReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("switchboard-workspace"),
		Settings: specs.Settings{
			RuntimeImage: cfg.RuntimeImage, BaseDomain: cfg.BaseDomain, URLScheme: cfg.URLScheme,
			IngressClass: cfg.IngressClass, IngressNamespace: cfg.IngressNamespace, TrustedProxies: cfg.RuntimeTrustedProxies,
			VaultAddress: cfg.RuntimeVaultAddress, VaultAuthMount: cfg.VaultAuthMount,
			VaultKVMount: cfg.VaultKVMount, VaultAudience: cfg.VaultRoleAudience,
			VaultEgress: cfg.VaultEgress, DatabaseEgress: dbEgress, DatabaseRegion: dbRegion,
		},
		DB: db, Vault: vc, Backups: backups, Now: o.Now,
		BackupSpread: cfg.PeriodicSpread, Started: started,
		RetryAfter:         cfg.DependencyRetryAfter,
		ReceiptsNamespace:  cfg.ReceiptsNamespace,
		Receipts:           receiptLog,
		MaxConcurrent:      cfg.MaxConcurrent,
		BeforeDeletionStep: o.BeforeDeletionStep,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up workspace controller: %w", err)
	}

	if err := (&IntegrationReconciler{
		Client:     mgr.GetClient(),
		APIReader:  mgr.GetAPIReader(),
		Recorder:   mgr.GetEventRecorder("switchboard-integration"),
		Vault:      vc,
		RetryAfter: cfg.DependencyRetryAfter,
		Now:        o.Now,
		Receipts:   receiptLog,
		HealthPoll: o.IntegrationHealthPoll,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up integration controller: %w", err)
	}

	if err := (&BackupReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Recorder:      mgr.GetEventRecorder("switchboard-backup"),
		Backups:       backups,
		MaxConcurrent: cfg.MaxConcurrentBackups,
		RetryAfter:    cfg.DependencyRetryAfter,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up backup controller: %w", err)
	}
	if err := (&BackupExpiryReconciler{
		Client:     mgr.GetClient(),
		APIReader:  mgr.GetAPIReader(),
		Recorder:   mgr.GetEventRecorder("switchboard-backup-expiry"),
		Backups:    backups,
		RetryAfter: cfg.DependencyRetryAfter,
		Receipts:   receiptLog,
		Now:        o.Now,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up backup expiry controller: %w", err)
	}

	if err := (&RetentionReconciler{
		Client:     mgr.GetClient(),
		APIReader:  mgr.GetAPIReader(),
		Receipts:   receiptLog,
		Recorder:   mgr.GetEventRecorder("switchboard-retention"),
		Backups:    backups,
		Interval:   cfg.RetentionInterval,
		RetryAfter: cfg.DependencyRetryAfter,
		Now:        o.Now,
		Spread:     cfg.PeriodicSpread,
		Started:    started,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up retention controller: %w", err)
	}
	if err := (&RetentionPolicyReconciler{
		Client:            mgr.GetClient(),
		Recorder:          mgr.GetEventRecorder("switchboard-retentionpolicy"),
		Backups:           backups,
		ReceiptsNamespace: cfg.ReceiptsNamespace,
		Now:               o.Now,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up retention policy controller: %w", err)
	}

	interval := o.StatsInterval
	if interval <= 0 {
		interval = 15 * time.Second
	}
	if err := mgr.Add(&phaseStats{reader: mgr.GetClient(), interval: interval}); err != nil {
		return nil, err
	}

	if cfg.VaultKubernetesHost != "" && cfg.VaultReviewerJWTFile != "" {
		// The reviewer token rotates (a projected token lives an hour): keep
		// Vault's copy fresh even when no workspace changes.
		if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			t := time.NewTicker(time.Minute)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
					if err := vc.EnsureAuthConfig(ctx); err != nil {
						ctrl.Log.Info("refreshing Vault's Kubernetes auth config failed; will retry", "error", err.Error())
					}
				}
			}
		})); err != nil {
			return nil, err
		}
	}
	// Every replica uses the token, leader or not.
	if err := mgr.Add(everyReplica(func(ctx context.Context) error {
		vc.KeepTokenAlive(ctx, func(err error) {
			ctrl.Log.Info("keeping the Vault token alive failed; will retry", "error", err.Error())
		})
		return nil
	})); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		db.Close()
		return nil
	})); err != nil {
		return nil, err
	}
	return mgr, nil
}

// replayErasures re-applies, in one transaction, the ledger's erasures
// recorded after b's snapshot (less privacy.ReplayMargin: an erasure is
// stamped just before it commits, and replaying one twice is harmless).
func replayErasures(ctx context.Context, l *privacy.Ledger, b *tenancyv1.Backup, db dump.Database) (int, error) {
	since := b.Status.Artifact.DumpedAt.Add(-privacy.ReplayMargin)
	entries, err := l.Since(ctx, since)
	if err != nil {
		return 0, fmt.Errorf("reading the erasure ledger: %w", err)
	}
	if len(entries) == 0 {
		return 0, nil
	}
	conn, err := db.Connect(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // a no-op after Commit
	rep, err := l.Replay(ctx, tx, entries)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return rep.Entries, nil
}

// checkBackupTools refuses to start an operator that has a backup store
// but no pg_dump and pg_restore fit for its servers: its backups would all
// fail at 3 a.m. rather than now. A server that does not answer yet is
// checked by version when it first takes a backup (pg_dump says so).
func checkBackupTools(cfg *config.Config, db *postgres.Provisioner) error {
	anyStore := cfg.BackupStore != ""
	for _, s := range cfg.DatabaseServers {
		anyStore = anyStore || s.BackupStore != ""
	}
	if !anyStore {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	majors := map[string]int{}
	for _, name := range db.ServerNames() {
		v, err := db.ServerMajorVersion(ctx, name)
		if err != nil {
			ctrl.Log.Info("cannot learn a database server's version at start; its backups will say if pg_dump does not fit", "server", name, "error", err.Error())
			continue
		}
		majors[name] = v
	}
	if err := dump.CheckTools(ctx, cfg.PgDump, cfg.PgRestore, majors); err != nil {
		return fmt.Errorf("backups are configured, but %w (set --pg-dump and --pg-restore)", err)
	}
	return nil
}

// everyReplica is a runnable that runs without leader election.
type everyReplica func(ctx context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }
func (everyReplica) NeedLeaderElection() bool          { return false }

func ctrlConfig(skipNameValidation bool) ctrlconfig.Controller {
	return ctrlconfig.Controller{SkipNameValidation: ptr.To(skipNameValidation)}
}
