package devnode

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/specs"
	"github.com/switchboard-dev/switchboard/test/harness"
)

const (
	runtimeImage = "switchboard/runtime:dev"
	acmeHost     = "acme.switchboard.localhost"
)

// TestDevNode runs the operator's real runtime pod spec on the dev node
// against a bare control plane (no scheduler or controllers: the test binds
// the pod itself), with a fake runtime built from testdata.
func TestDevNode(t *testing.T) {
	began := time.Now()
	t.Setenv("DEVNODE_TEST_LEAK", "must not reach the pod")

	built := make(chan error, 1)
	fake := filepath.Join(t.TempDir(), "fakeruntime")
	go func() {
		out, err := exec.Command("go", "build", "-o", fake, "./testdata/fakeruntime").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%v\n%s", err, out)
		}
		built <- err
	}()

	assets, err := harness.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	// Generous: on a loaded 2-core machine kube-apiserver alone can take
	// longer than envtest's default 20 s; normally it is up in about 3 s.
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: time.Minute}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cs := kubernetes.NewForConfigOrDie(cfg)
	if err := <-built; err != nil {
		t.Fatalf("building the fake runtime: %v", err)
	}
	t.Logf("control plane up and fake runtime built in %s", time.Since(began).Round(time.Millisecond))

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stateDir, logDir := t.TempDir(), t.TempDir()
	node, err := Start(ctx, cfg, Options{
		NodeName: "devnode-test",
		Images:   map[string][]string{runtimeImage: {fake}},
		StateDir: stateDir,
		LogDir:   logDir,
		ExtraEnv: map[string]string{"DEVNODE_EXTRA": "yes"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		node.Stop()
		if t.Failed() || os.Getenv("DEVNODE_DUMP") != "" {
			dumpLogs(t, logDir)
		}
	})

	t.Run("the Node is Ready, schedulable and heartbeating", func(t *testing.T) {
		eventually(t, 10*time.Second, func() error {
			n, err := cs.CoreV1().Nodes().Get(ctx, node.Name(), metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, taint := range n.Spec.Taints {
				if taint.Key == corev1.TaintNodeNotReady {
					return fmt.Errorf("still tainted %s", taint.Key)
				}
			}
			if !nodeReady(n) {
				return errors.New("not Ready")
			}
			if n.Status.Allocatable.Pods().Value() == 0 || n.Status.Allocatable.Cpu().IsZero() {
				return fmt.Errorf("allocatable %v", n.Status.Allocatable)
			}
			var lease *coordinationv1.Lease
			if lease, err = cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, node.Name(), metav1.GetOptions{}); err != nil {
				return err
			}
			if lease.Spec.RenewTime == nil {
				return errors.New("lease never renewed")
			}
			return nil
		})
	})

	ws := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}
	settings := specs.Settings{
		RuntimeImage: runtimeImage, BaseDomain: "switchboard.localhost", URLScheme: "http",
		VaultAddress: "http://127.0.0.1:1", VaultAuthMount: "kubernetes", VaultKVMount: "switchboard", VaultAudience: "vault",
	}
	ns := ws.NamespaceName()
	mustCreate(t, func() error {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: specs.ServiceAccountName}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := cs.CoreV1().Services(ns).Create(ctx, specs.RuntimeService(ws), metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := cs.NetworkingV1().Ingresses(ns).Create(ctx, specs.RuntimeIngress(ws, settings), metav1.CreateOptions{})
		return err
	})
	tmpl := specs.RuntimeDeployment(ws, settings).Spec.Template
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "runtime-0", Namespace: ns, Labels: tmpl.Labels}, Spec: tmpl.Spec}
	pod.Spec.NodeName = node.Name() // there is no scheduler here
	pod.Spec.TerminationGracePeriodSeconds = ptr.To(int64(5))
	pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env, corev1.EnvVar{
		Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
	})
	mustCreate(t, func() error {
		var err error
		pod, err = cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		return err
	})
	podDir := filepath.Join(stateDir, ns, pod.Name)

	t.Run("the pod becomes Running and Ready", func(t *testing.T) {
		eventually(t, 45*time.Second, func() error {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Status.Phase != corev1.PodRunning || !podReady(p) {
				return fmt.Errorf("phase %s, conditions %v, containers %v", p.Status.Phase, p.Status.Conditions, p.Status.ContainerStatuses)
			}
			if p.Status.PodIP != "127.0.0.1" || len(p.Status.ContainerStatuses) != 1 || !p.Status.ContainerStatuses[0].Ready {
				return fmt.Errorf("status %+v", p.Status)
			}
			return nil
		})
	})

	proxy := NewIngressProxy(cs, node)
	proxyAddr, err := proxy.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var seen struct {
		Workspace   string            `json:"workspace"`
		TokenPrefix string            `json:"tokenPrefix"`
		Host        string            `json:"host"`
		PID         int               `json:"pid"`
		Env         map[string]string `json:"env"`
	}

	t.Run("the ingress proxy routes the workspace host to the runtime", func(t *testing.T) {
		code, body := get(t, proxyAddr, acmeHost+":8080", "/")
		if code != http.StatusOK {
			t.Fatalf("GET / via the proxy: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &seen); err != nil {
			t.Fatal(err)
		}
		if seen.Workspace != "acme" || seen.Host != acmeHost+":8080" {
			t.Errorf("workspace %q, host %q", seen.Workspace, seen.Host)
		}
	})

	t.Run("the process gets the pod's env, rewritten for this machine", func(t *testing.T) {
		want := map[string]string{
			"SWITCHBOARD_WORKSPACE":        "acme",
			"SWITCHBOARD_VAULT_TOKEN_PATH": filepath.Join(podDir, "vault-token", "token"),
			"TMPDIR":                       filepath.Join(podDir, "tmp"),
			"POD_NAME":                     pod.Name,
			"DEVNODE_EXTRA":                "yes",
		}
		for k, v := range want {
			if seen.Env[k] != v {
				t.Errorf("%s = %q, want %q", k, seen.Env[k], v)
			}
		}
		if la := seen.Env[listenAddrEnv]; !strings.HasPrefix(la, "127.0.0.1:") || la == "127.0.0.1:8080" {
			t.Errorf("%s = %q, want a free loopback port", listenAddrEnv, la)
		}
		if _, leaked := seen.Env["DEVNODE_TEST_LEAK"]; leaked {
			t.Error("the dev process's environment leaked into the pod")
		}
	})

	t.Run("the token is a real, bound token with the volume's audience", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(podDir, "vault-token", "token"))
		if err != nil {
			t.Fatal(err)
		}
		token := string(b)
		if seen.TokenPrefix == "" || !strings.HasPrefix(token, seen.TokenPrefix) {
			t.Fatalf("the process saw token prefix %q, the file holds %.10q", seen.TokenPrefix, token)
		}
		review := func(aud ...string) *authv1.TokenReviewStatus {
			tr, err := cs.AuthenticationV1().TokenReviews().Create(ctx, &authv1.TokenReview{Spec: authv1.TokenReviewSpec{Token: token, Audiences: aud}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return &tr.Status
		}
		st := review("vault")
		if !st.Authenticated || st.User.Username != "system:serviceaccount:ws-acme:runtime" {
			t.Fatalf("TokenReview with audience vault: %+v", st)
		}
		if got := st.User.Extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != pod.Name {
			t.Errorf("token not bound to the pod: extra %v", st.User.Extra)
		}
		if st := review(); st.Authenticated {
			t.Error("the token is accepted by the API server's own audience; it should only be for vault")
		}
	})

	t.Run("an unknown host gets 404 listing the known hosts", func(t *testing.T) {
		code, body := get(t, proxyAddr, "nobody.switchboard.localhost", "/")
		if code != http.StatusNotFound || !strings.Contains(body, acmeHost) {
			t.Fatalf("got %d %q", code, body)
		}
	})

	t.Run("server-sent events are streamed", func(t *testing.T) {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		defer rcancel()
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+proxyAddr.String()+"/events", nil)
		req.Host = acmeHost
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || line != "data: hello\n" {
			t.Fatalf("first event: %q, %v (the stream is still open, so it must arrive unbuffered)", line, err)
		}
	})

	t.Run("a crashed process is restarted and counted", func(t *testing.T) {
		get(t, proxyAddr, acmeHost, "/crash")
		eventually(t, 15*time.Second, func() error {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cs := p.Status.ContainerStatuses[0]
			if cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 3 {
				return fmt.Errorf("container status %+v", cs)
			}
			if !podReady(p) {
				return errors.New("not Ready again yet")
			}
			return nil
		})
		code, body := get(t, proxyAddr, acmeHost, "/")
		var again struct {
			PID int `json:"pid"`
		}
		_ = json.Unmarshal([]byte(body), &again)
		if code != http.StatusOK || again.PID == seen.PID {
			t.Fatalf("after the restart: %d %s (old pid %d)", code, body, seen.PID)
		}
		seen.PID = again.PID
	})

	t.Run("deleting the pod stops the process and removes its state", func(t *testing.T) {
		if err := cs.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		listen := seen.Env[listenAddrEnv]
		eventually(t, 10*time.Second, func() error {
			if c, err := net.DialTimeout("tcp", listen, 200*time.Millisecond); err == nil {
				c.Close()
				return fmt.Errorf("%s still answers", listen)
			}
			if err := syscall.Kill(seen.PID, 0); !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("process %d still exists (%v)", seen.PID, err)
			}
			if _, err := os.Stat(podDir); !os.IsNotExist(err) {
				return fmt.Errorf("%s still exists (%v)", podDir, err)
			}
			// As the kubelet does, the node removes the object once the
			// processes are gone, instead of waiting out the grace period.
			if _, err := cs.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("pod object still there (%v)", err)
			}
			return nil
		})
		code, body := get(t, proxyAddr, acmeHost, "/")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "workspace "+acmeHost+" has no ready runtime") {
			t.Fatalf("without a runtime: %d %q", code, body)
		}
	})

	t.Run("an image without a local command stays Pending with a reason", func(t *testing.T) {
		other := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: ns},
			Spec:       corev1.PodSpec{NodeName: node.Name(), Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
		}
		mustCreate(t, func() error {
			_, err := cs.CoreV1().Pods(ns).Create(ctx, other, metav1.CreateOptions{})
			return err
		})
		eventually(t, 20*time.Second, func() error {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, other.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Status.Phase != corev1.PodPending || len(p.Status.ContainerStatuses) != 1 ||
				p.Status.ContainerStatuses[0].State.Waiting == nil || p.Status.ContainerStatuses[0].State.Waiting.Reason != "ErrImageNeverPull" {
				return fmt.Errorf("status %+v", p.Status)
			}
			return nil
		})
	})

	t.Run("stopping the node ends its processes", func(t *testing.T) {
		second := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "runtime-1", Namespace: ns, Labels: tmpl.Labels}, Spec: *tmpl.Spec.DeepCopy()}
		second.Spec.NodeName = node.Name()
		mustCreate(t, func() error {
			_, err := cs.CoreV1().Pods(ns).Create(ctx, second, metav1.CreateOptions{})
			return err
		})
		var pid int
		eventually(t, 10*time.Second, func() error {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, second.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Running == nil {
				return fmt.Errorf("status %+v", p.Status)
			}
			_, err = fmt.Sscanf(p.Status.ContainerStatuses[0].ContainerID, "devnode://%d", &pid)
			return err
		})
		stopped := time.Now()
		node.Stop()
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d survived the node (%v)", pid, err)
		}
		if _, err := os.Stat(filepath.Join(stateDir, ns, second.Name)); !os.IsNotExist(err) {
			t.Errorf("the pod's state survived the node (%v)", err)
		}
		t.Logf("the node stopped in %s", time.Since(stopped).Round(time.Millisecond))
	})

	t.Logf("whole test: %s", time.Since(began).Round(time.Millisecond))
}

func TestRefreshAt(t *testing.T) {
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got, want := refreshAt(issued, issued.Add(time.Hour)), issued.Add(48*time.Minute); !got.Equal(want) {
		t.Errorf("refreshAt = %s, want %s", got, want)
	}
	if got := refreshAt(issued, issued.Add(-time.Minute)); !got.Equal(issued) {
		t.Errorf("an already expired token should be refreshed at once, got %s", got)
	}
}

func TestRoute(t *testing.T) {
	prefix, exact := networkingv1.PathTypePrefix, networkingv1.PathTypeExact
	backend := func(name string) networkingv1.IngressBackend {
		return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Name: "http"}}}
	}
	ing := func(ns, host string, paths ...networkingv1.HTTPIngressPath) *networkingv1.Ingress {
		return &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "runtime"},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
				Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}},
			}}},
		}
	}
	ings := []*networkingv1.Ingress{
		ing("ws-acme", "acme.example.test",
			networkingv1.HTTPIngressPath{Path: "/", PathType: &prefix, Backend: backend("runtime")},
			networkingv1.HTTPIngressPath{Path: "/api", PathType: &prefix, Backend: backend("api")},
			networkingv1.HTTPIngressPath{Path: "/api/x", PathType: &exact, Backend: backend("x")}),
		ing("wild", "*.example.test", networkingv1.HTTPIngressPath{Path: "/", PathType: &prefix, Backend: backend("wild")}),
	}
	for _, tc := range []struct{ host, path, ns, svc string }{
		{"acme.example.test", "/", "ws-acme", "runtime"},
		{"acme.example.test", "/apix", "ws-acme", "runtime"},
		{"acme.example.test", "/api/y", "ws-acme", "api"},
		{"acme.example.test", "/api/x", "ws-acme", "x"},
		{"globex.example.test", "/", "wild", "wild"},
		{"a.b.example.test", "/", "", ""},
		{"other.test", "/", "", ""},
	} {
		ns, b, ok := route(ings, tc.host, tc.path)
		got := ""
		if ok {
			got = b.Name
		}
		if ns != tc.ns || got != tc.svc {
			t.Errorf("route(%s%s) = %s/%s, want %s/%s", tc.host, tc.path, ns, got, tc.ns, tc.svc)
		}
	}
}

func get(t *testing.T, addr net.Addr, host, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr.String()+path, nil)
	req.Host = host
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustCreate(t *testing.T, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatal(err)
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func dumpLogs(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		t.Logf("==> %s\n%s", filepath.Base(f), b)
	}
}
