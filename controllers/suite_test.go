package controllers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/switchboard-dev/switchboard/controllers"
	"github.com/switchboard-dev/switchboard/controllers/config"
	"github.com/switchboard-dev/switchboard/test/harness"
)

const receiptsNamespace = "switchboard-system"

var (
	restCfg   *rest.Config
	k8s       client.Client
	clientset *kubernetes.Clientset
	pg        *harness.Postgres
	vaultSrv  *harness.Vault
	s3Srv     *harness.S3
	// fileStoreDir is the folder of the default (file) backup store;
	// server eu-s3 keeps its tenants' backups in s3Srv's bucket.
	fileStoreDir string
	opCfg        *config.Config
	writes       = &writeCounter{counts: map[string]int{}}

	mgrCancel context.CancelFunc
	mgrDone   chan struct{}
)

// writeCounter counts the operator's writes to Postgres and Vault.
type writeCounter struct {
	mu     sync.Mutex
	counts map[string]int
	log    []string
}

func (w *writeCounter) add(system, target string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.counts[system]++
	w.log = append(w.log, system+" "+target)
}

func (w *writeCounter) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts["postgres"] + w.counts["vault"]
}

func (w *writeCounter) since(n int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.log[n:]...)
}

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)

	stack, err := harness.StartStack(bg, GinkgoT().TempDir(), "eu-1", func(msg string) { By(msg) })
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(stack.Close)
	pg, vaultSrv, restCfg, clientset = stack.PG, stack.Vault, stack.RestConfig, stack.Clientset
	k8s, err = client.New(restCfg, client.Options{Scheme: controllers.Scheme()})
	Expect(err).NotTo(HaveOccurred())

	By("starting the S3 server (versitygw) for the backup store")
	s3Srv, err = harness.StartS3(GinkgoT().TempDir(), "backups")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(s3Srv.Close)
	fileStoreDir = GinkgoT().TempDir()
	credentials := filepath.Join(stack.StateDir, "s3-credentials")
	Expect(os.WriteFile(credentials, []byte("[default]\naws_access_key_id = "+s3Srv.AccessKey+
		"\naws_secret_access_key = "+s3Srv.SecretKey+"\n"), 0o600)).To(Succeed())
	// Two servers on the same PostgreSQL: eu-1 backs up into the default
	// file store, eu-s3 into its own S3 bucket (residency).
	Expect(os.WriteFile(filepath.Join(stack.StateDir, "database-servers.yaml"), []byte(
		"eu-1:\n  dsn: "+pg.AdminDSN()+"\n  region: EU (test)\n"+
			"eu-s3:\n  dsn: "+pg.AdminDSN()+"\n  backupStore:\n    url: "+s3Srv.StoreURL("backups", "tenants")+"\n    credentials: "+credentials+"\n"), 0o600)).To(Succeed())

	By("configuring the operator")
	opCfg = operatorConfig(stack)
	startManager()
	DeferCleanup(stopManager)
})

// opCfgArgs are the flags opCfg was loaded from.
var opCfgArgs []string

// operatorConfig goes through config.Load, as main does.
func operatorConfig(stack *harness.Stack) *config.Config {
	opCfgArgs = stack.OperatorArgs(
		"--runtime-image=switchboard/runtime:test",
		"--base-domain=inbox.test.example",
		"--ingress-class=nginx",
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
		"--dependency-retry-after=1s",
		"--backup-store=file://"+fileStoreDir,
		"--max-concurrent-backups=2",
		// Specs move the clock to a slot and expect its backup: the spread
		// has its own spec ("Periodic work"), which turns it on.
		"--periodic-spread=0",
	)
	cfg, err := config.Load(opCfgArgs, func(string) string { return "" })
	Expect(err).NotTo(HaveOccurred())
	return cfg
}

func startManager() {
	mgr, err := controllers.NewManager(restCfg, opCfg, controllers.ManagerOptions{
		StatsInterval:         200 * time.Millisecond,
		IntegrationHealthPoll: 300 * time.Millisecond,
		OnExternalWrite:       writes.add,
		SkipNameValidation:    true,
		Now:                   testClock.Now,
		BeforeDump:            func(ctx context.Context, backup string) { backupHooks.run(&backupHooks.dump, ctx, backup) },
		DuringUpload:          func(ctx context.Context, backup string) { backupHooks.run(&backupHooks.upload, ctx, backup) },
		BeforeRestore:         func(ctx context.Context, ws string) { backupHooks.run(&backupHooks.restore, ctx, ws) },
		BeforeDeletionStep: func(ctx context.Context, ws, step string) {
			if h := deletionHook; h != nil {
				h(ctx, ws, step)
			}
		},
	})
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), logf.Log))
	mgrCancel, mgrDone = cancel, make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(mgrDone)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
}

// testClock is the operator's clock for backup schedules and expiry: the
// real time plus an offset a test moves (and puts back).
var testClock = &offsetClock{}

type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward until the spec ends.
func (c *offsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
	DeferCleanup(func() {
		c.mu.Lock()
		c.offset -= d
		c.mu.Unlock()
	})
}

// backupHooks are hooks into the backup controller, which a spec sets
// with set (and which are put back when it ends).
var backupHooks hookSet

type hook = func(ctx context.Context, name string)

type hookSet struct {
	mu                    sync.Mutex
	dump, upload, restore hook
}

func (h *hookSet) run(which *hook, ctx context.Context, name string) {
	h.mu.Lock()
	f := *which
	h.mu.Unlock()
	if f != nil {
		f(ctx, name)
	}
}

func (h *hookSet) set(which *hook, f hook) {
	h.mu.Lock()
	*which = f
	h.mu.Unlock()
	DeferCleanup(func() {
		h.mu.Lock()
		*which = nil
		h.mu.Unlock()
	})
}

func stopManager() {
	if mgrCancel == nil {
		return
	}
	mgrCancel()
	<-mgrDone
	mgrCancel = nil
}

// uniqueName gives each test its own workspace name.
var nameSeq struct {
	sync.Mutex
	n int
}

func uniqueName(prefix string) string {
	nameSeq.Lock()
	defer nameSeq.Unlock()
	nameSeq.n++
	return fmt.Sprintf("%s-%d-%d", prefix, GinkgoParallelProcess(), nameSeq.n)
}

func dbName(ws string) string { return "ws_" + strings.ReplaceAll(ws, "-", "_") }
