package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Stack is everything the operator talks to: PostgreSQL, Vault, etcd and
// kube-apiserver with the CRDs installed, and a TokenReview identity for Vault.
type Stack struct {
	PG         *Postgres
	Vault      *Vault
	Env        *envtest.Environment
	RestConfig *rest.Config
	Clientset  *kubernetes.Clientset
	// StateDir holds the kubeconfig and the operator's configuration files.
	StateDir   string
	Kubeconfig string
	// DatabaseServer is the name the Postgres server has in the operator's configuration.
	DatabaseServer string
	// SystemNamespace holds the Vault reviewer and deletion receipts.
	SystemNamespace string
	// Controllers are kube-controller-manager and kube-scheduler, once started.
	Controllers []*Process
	closers     []func()
}

// StartStack starts the stack, writing state into stateDir.
func StartStack(ctx context.Context, stateDir, databaseServer string, progress func(string)) (s *Stack, err error) {
	if progress == nil {
		progress = func(string) {}
	}
	s = &Stack{StateDir: stateDir, DatabaseServer: databaseServer, SystemNamespace: "switchboard-system"}
	started := s // s is nil once a failure returns; what started must still stop
	defer func() {
		if err != nil {
			started.Close()
		}
	}()

	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, err
	}
	root, err := Root()
	if err != nil {
		return nil, err
	}
	progress("starting PostgreSQL")
	if s.PG, err = StartPostgres(); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.PG.Close)
	progress("starting Vault (dev mode, in memory)")
	if s.Vault, err = StartVault(); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.Vault.Close)

	progress("starting etcd and kube-apiserver, and installing the CRDs")
	assets, err := BinDir()
	if err != nil {
		return nil, err
	}
	s.Env = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		// A loaded 2-core machine can take longer than envtest's 20 s default.
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	// Every workspace has a ClusterIP Service: kube-apiserver's default range
	// (a /24) runs out at about 250 workspaces, which the benchmark exceeds.
	s.Env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.0.0.0/16")
	if s.RestConfig, err = s.Env.Start(); err != nil {
		return nil, fmt.Errorf("harness: starting the control plane: %w", err)
	}
	s.closers = append(s.closers, func() { _ = s.Env.Stop() })
	admin, err := s.Env.ControlPlane.AddUser(envtest.User{Name: "switchboard-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return nil, err
	}
	s.Kubeconfig = filepath.Join(stateDir, "kubeconfig")
	if s.Clientset, err = kubernetes.NewForConfig(s.RestConfig); err != nil {
		return nil, err
	}
	jwt, err := VaultReviewerToken(ctx, s.Clientset, s.SystemNamespace)
	if err != nil {
		return nil, err
	}
	files := map[string]string{
		"kubeconfig":            string(kc),
		"database-servers.yaml": databaseServer + ": " + s.PG.AdminDSN() + "\n",
		"kube-ca.crt":           string(s.RestConfig.CAData),
		"vault-reviewer.jwt":    jwt,
		"vault-token":           OperatorToken,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(stateDir, name), []byte(body), 0o600); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// OperatorArgs are the operator's flags for this stack, followed by extra.
func (s *Stack) OperatorArgs(extra ...string) []string {
	return append([]string{
		"--vault-address=" + s.Vault.Addr(),
		"--vault-token-file=" + filepath.Join(s.StateDir, "vault-token"),
		"--vault-kubernetes-host=" + s.RestConfig.Host,
		"--vault-kubernetes-ca-file=" + filepath.Join(s.StateDir, "kube-ca.crt"),
		"--vault-kubernetes-reviewer-jwt-file=" + filepath.Join(s.StateDir, "vault-reviewer.jwt"),
		"--database-servers=" + filepath.Join(s.StateDir, "database-servers.yaml"),
		"--receipts-namespace=" + s.SystemNamespace,
	}, extra...)
}

// Close stops everything, in reverse order.
func (s *Stack) Close() {
	if s == nil {
		return
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// StartControllers runs kube-controller-manager (deployments, replica sets,
// namespaces, garbage collection, quotas, disruption budgets) and kube-scheduler against the
// stack, as a cluster would. Their logs go to StateDir.
func (s *Stack) StartControllers() error {
	kcm, err := StartBinary("kube-controller-manager", filepath.Join(s.StateDir, "kube-controller-manager.log"),
		"--kubeconfig="+s.Kubeconfig, "--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false",
		"--controllers=deployment-controller,replicaset-controller,namespace-controller,garbage-collector-controller,resourcequota-controller,disruption-controller")
	if err != nil {
		return err
	}
	s.closers = append(s.closers, kcm.Stop)
	sched, err := StartBinary("kube-scheduler", filepath.Join(s.StateDir, "kube-scheduler.log"),
		"--kubeconfig="+s.Kubeconfig, "--leader-elect=false", "--secure-port=0")
	if err != nil {
		return err
	}
	s.closers = append(s.closers, sched.Stop)
	s.Controllers = []*Process{kcm, sched}
	return nil
}
