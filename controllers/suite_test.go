package controllers_test

import (
	"context"
	"fmt"
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
	opCfg     *config.Config
	writes    = &writeCounter{counts: map[string]int{}}

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

	By("configuring the operator")
	opCfg = operatorConfig(stack)
	startManager()
	DeferCleanup(stopManager)
})

// operatorConfig goes through config.Load, as main does.
func operatorConfig(stack *harness.Stack) *config.Config {
	cfg, err := config.Load(stack.OperatorArgs(
		"--runtime-image=switchboard/runtime:test",
		"--base-domain=inbox.test.example",
		"--ingress-class=nginx",
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
		"--dependency-retry-after=1s",
	), func(string) string { return "" })
	Expect(err).NotTo(HaveOccurred())
	return cfg
}

func startManager() {
	mgr, err := controllers.NewManager(restCfg, opCfg, controllers.ManagerOptions{
		StatsInterval:      200 * time.Millisecond,
		OnExternalWrite:    writes.add,
		SkipNameValidation: true,
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
