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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/switchboard-dev/switchboard/controllers"
	"github.com/switchboard-dev/switchboard/controllers/config"
	"github.com/switchboard-dev/switchboard/test/harness"
)

const receiptsNamespace = "switchboard-system"

var (
	testEnv   *envtest.Environment
	restCfg   *rest.Config
	k8s       client.Client
	clientset *kubernetes.Clientset
	pg        *harness.Postgres
	vaultSrv  *harness.Vault
	opCfg     *config.Config
	writes    = &writeCounter{counts: map[string]int{}}

	reviewerJWT string

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

	var err error
	By("starting PostgreSQL")
	pg, err = harness.StartPostgres()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(pg.Close)

	By("starting Vault")
	vaultSrv, err = harness.StartVault()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(vaultSrv.Close)

	By("starting kube-apiserver and etcd")
	assets, err := harness.BinDir()
	Expect(err).NotTo(HaveOccurred())
	root, err := harness.Root()
	Expect(err).NotTo(HaveOccurred())
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	restCfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(testEnv.Stop)

	k8s, err = client.New(restCfg, client.Options{Scheme: controllers.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	clientset, err = kubernetes.NewForConfig(restCfg)
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: receiptsNamespace}})).To(Succeed())

	By("giving Vault a TokenReview identity, as a platform team would")
	reviewerJWT, err = harness.VaultReviewerToken(bg, clientset, receiptsNamespace)
	Expect(err).NotTo(HaveOccurred())

	By("configuring the operator")
	opCfg = operatorConfig(GinkgoT().TempDir())
	startManager()
	DeferCleanup(stopManager)
})

// operatorConfig goes through config.Load, as main does.
func operatorConfig(dir string) *config.Config {
	servers := filepath.Join(dir, "servers.yaml")
	Expect(os.WriteFile(servers, []byte("eu-1: "+pg.AdminDSN()+"\n"), 0o600)).To(Succeed())
	jwt := filepath.Join(dir, "reviewer.jwt")
	Expect(os.WriteFile(jwt, []byte(reviewerJWT), 0o600)).To(Succeed())
	ca := filepath.Join(dir, "ca.crt")
	Expect(os.WriteFile(ca, restCfg.CAData, 0o600)).To(Succeed())
	env := map[string]string{"VAULT_TOKEN": harness.RootToken}
	cfg, err := config.Load([]string{
		"--vault-address=" + vaultSrv.Addr(),
		"--vault-kubernetes-host=" + restCfg.Host,
		"--vault-kubernetes-ca-file=" + ca,
		"--vault-kubernetes-reviewer-jwt-file=" + jwt,
		"--database-servers=" + servers,
		"--runtime-image=switchboard/runtime:test",
		"--base-domain=inbox.test.example",
		"--ingress-class=nginx",
		"--receipts-namespace=" + receiptsNamespace,
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
		"--dependency-retry-after=1s",
	}, func(k string) string { return env[k] })
	Expect(err).NotTo(HaveOccurred())
	return cfg
}

func startManager() {
	mgr, err := controllers.NewManager(restCfg, opCfg, controllers.ManagerOptions{
		OnExternalWrite:    writes.add,
		SkipNameValidation: true,
		BeforeDeletionStep: func(ws, step string) {
			if h := deletionHook; h != nil {
				h(ws, step)
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
