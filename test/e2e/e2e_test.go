// Package e2e runs the whole system: the operator against a real control plane
// (kube-apiserver, etcd, kube-controller-manager, kube-scheduler), PostgreSQL
// and Vault, with runtime pods run by the process-backed dev node, reached
// through the dev ingress proxy.
package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers"
	"github.com/switchboard-dev/switchboard/controllers/config"
	"github.com/switchboard-dev/switchboard/hack/devnode"
	"github.com/switchboard-dev/switchboard/test/harness"
)

const image = "switchboard/runtime:e2e"

func TestWorkspaceRunsItsRuntime(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()

	bin := filepath.Join(dir, "switchboard-runtime")
	root, err := harness.Root()
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", bin, "./runtime/cmd/switchboard-runtime")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the runtime: %v\n%s", err, out)
	}

	stack, err := harness.StartStack(ctx, filepath.Join(dir, "state"), "eu-1", func(m string) { t.Log(m) })
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	if err := stack.StartControllers(); err != nil {
		t.Fatal(err)
	}
	node, err := devnode.Start(ctx, stack.RestConfig, devnode.Options{
		Images: map[string][]string{image: {bin}}, StateDir: filepath.Join(dir, "node"), LogDir: filepath.Join(dir, "pods"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Stop()
	ingress, err := devnode.NewIngressProxy(stack.Clientset, node).Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	cfg, err := config.Load(stack.OperatorArgs("--runtime-image="+image, "--base-domain=switchboard.localhost", "--url-scheme=http",
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--dependency-retry-after=2s"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var operatorLog harness.LockedBuffer
	ctrl.SetLogger(zap.New(zap.WriteTo(&operatorLog)))
	mgr, err := controllers.NewManager(stack.RestConfig, cfg, controllers.ManagerOptions{SkipNameValidation: true})
	if err != nil {
		t.Fatal(err)
	}
	// Stop the operator before the control plane, so no watch holds up the
	// API server's shutdown.
	mgrCtx, stopMgr := context.WithCancel(ctx)
	mgrDone := make(chan struct{})
	go func() { defer close(mgrDone); _ = mgr.Start(mgrCtx) }()
	defer func() { stopMgr(); <-mgrDone }()

	k8s, err := client.New(stack.RestConfig, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ws := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "acme"}, Spec: tenancyv1.WorkspaceSpec{
		Owner: tenancyv1.WorkspaceOwner{Email: "owner@acme.example"}, DatabaseServer: "eu-1"}}
	if err := k8s.Create(ctx, ws); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(ws), ws); err != nil {
			t.Fatal(err)
		}
		if meta.IsStatusConditionTrue(ws.Status.Conditions, tenancyv1.ConditionReady) {
			break
		}
		if time.Now().After(deadline) {
			logs, _ := filepath.Glob(filepath.Join(dir, "pods", "*.log"))
			var tail string
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				tail += l + ":\n" + lastLines(string(b), 10)
			}
			t.Fatalf("workspace not Ready: %+v\n%s", ws.Status.Conditions, tail)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("Workspace Ready with its runtime running after %s", time.Since(start).Round(time.Millisecond))
	if ws.Status.URL != "http://acme.switchboard.localhost" || ws.Status.Phase != tenancyv1.WorkspaceReady {
		t.Fatalf("status: %+v", ws.Status)
	}

	get := func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ingress.String()+"/login", nil)
		req.Host = "acme.switchboard.localhost"
		return http.DefaultClient.Do(req)
	}
	resp, err := get()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Sign in") {
		t.Fatalf("the workspace URL answered %s:\n%s", resp.Status, body)
	}

	// Metrics are for scrapers inside the cluster, not for the internet.
	mreq, _ := http.NewRequest(http.MethodGet, "http://"+ingress.String()+"/metrics", nil)
	mreq.Host = "acme.switchboard.localhost"
	if mresp, err := http.DefaultClient.Do(mreq); err != nil || mresp.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics through the ingress: %v %v, want 404", mresp, err)
	} else {
		mresp.Body.Close()
	}

	// Channels: Integrations applied to the running system carry real
	// conversations into the inbox and replies out.
	channelSecrets := map[string]string{}
	t.Run("channels", func(t *testing.T) {
		exerciseChannels(t, ctx, k8s, ingress.String(), filepath.Join(dir, "pods", "ws-acme_runtime-*_runtime.log"), channelSecrets)
	})

	// The runtime logged into Vault with its ServiceAccount token (the dev
	// node passes no VAULT_TOKEN) and created the first owner from the
	// operator's bootstrap entry.
	logs, _ := filepath.Glob(filepath.Join(dir, "pods", "ws-acme_runtime-*_runtime.log"))
	var runtimeLog string
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		runtimeLog += string(b)
	}
	if !strings.Contains(runtimeLog, "created the first owner from the operator's bootstrap entry") {
		t.Fatalf("the runtime did not bootstrap its owner:\n%s", lastLines(runtimeLog, 20))
	}

	// No secret the operator made (database password and DSN, the first
	// owner's password) is in the runtime's log or the operator's.
	secrets, err := stack.WorkspaceSecrets(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	// Nor any Integration's credentials, which the runtime used.
	for k, v := range channelSecrets {
		secrets[k] = v
	}
	for what, text := range map[string]string{"runtime": runtimeLog, "operator": operatorLog.String()} {
		if found := harness.FindSecrets(text, secrets); len(found) > 0 {
			t.Fatalf("the %s log holds secrets: %v", what, found)
		}
	}

	// Deleting the workspace stops its runtime process.
	if err := k8s.Delete(ctx, ws); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(time.Minute)
	for {
		resp, err := get()
		if err == nil {
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the runtime still answers after the workspace was deleted: %v %v", resp, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("runtime stopped %s after the workspace was deleted", time.Since(deadline.Add(-time.Minute)).Round(time.Millisecond))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}
