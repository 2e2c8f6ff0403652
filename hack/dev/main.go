// Command dev runs all of Switchboard on one machine, in the foreground:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler (built
// from Go modules into bin/), PostgreSQL and Vault (dev mode), the CRDs, the
// operator, and the samples from config/samples. Ctrl-C stops everything.
//
// There is no kubelet here: hack/devnode registers a node that runs runtime
// pods as local processes, and a dev ingress proxy routes
// <workspace>.switchboard.localhost to them. Both are for development only.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers"
	"github.com/switchboard-dev/switchboard/controllers/config"
	"github.com/switchboard-dev/switchboard/hack/devnode"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// runtimeImage is the image the operator puts in runtime Deployments here;
// the dev node runs bin/switchboard-runtime for it.
const runtimeImage = "switchboard/runtime:dev"

func main() {
	exitWhenReady := flag.Bool("exit-when-ready", false, "stop everything once the sample workspace is provisioned (a smoke test)")
	flag.Parse()
	if err := run(*exitWhenReady); err != nil {
		fmt.Fprintln(os.Stderr, "dev: "+err.Error())
		os.Exit(1)
	}
}

func say(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func run(exitWhenReady bool) error {
	root, err := harness.Root()
	if err != nil {
		return err
	}
	state := filepath.Join(root, ".dev")
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var cleanups []func()
	defer func() {
		say("stopping everything")
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		say("stopped")
	}()

	stack, err := harness.StartStack(ctx, state, "local", func(msg string) { say("%s", msg) })
	if err != nil {
		return err
	}
	cleanups = append(cleanups, stack.Close)
	restCfg, kubeconfig, pg, vault := stack.RestConfig, stack.Kubeconfig, stack.PG, stack.Vault

	say("starting kube-controller-manager and kube-scheduler")
	if err := stack.StartControllers(); err != nil {
		return err
	}
	kcm := stack.Controllers[0]

	say("starting the dev node: runtime pods run as local processes (it stands in for the kubelet, in development only)")
	runtimeBin, err := harness.Bin("switchboard-runtime")
	if err != nil {
		return err
	}
	node, err := devnode.Start(ctx, restCfg, devnode.Options{
		Images:   map[string][]string{runtimeImage: {runtimeBin}},
		StateDir: filepath.Join(state, "devnode"),
		LogDir:   filepath.Join(state, "pods"),
		// A developer's webhook receiver is on localhost.
		ExtraEnv: map[string]string{"SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"},
	})
	if err != nil {
		return err
	}
	cleanups = append(cleanups, node.Stop)
	proxy := devnode.NewIngressProxy(stack.Clientset, node)
	ingressAddr, err := proxy.Serve(ctx, "127.0.0.1:80")
	if err != nil {
		if ingressAddr, err = proxy.Serve(ctx, "127.0.0.1:8080"); err != nil {
			return fmt.Errorf("dev ingress: %w", err)
		}
	}
	port := ""
	if !strings.HasSuffix(ingressAddr.String(), ":80") {
		port = ":" + ingressAddr.String()[strings.LastIndex(ingressAddr.String(), ":")+1:]
	}
	say("dev ingress on http://%s: http://<workspace>.switchboard.localhost%s reaches that workspace's runtime", ingressAddr, port)

	say("starting versitygw, a real S3 server, as the backup store (bucket backups, folder %s)", filepath.Join(state, "s3"))
	s3, err := harness.StartS3(filepath.Join(state, "s3"), "backups")
	if err != nil {
		return err
	}
	cleanups = append(cleanups, s3.Close)
	s3Creds := filepath.Join(state, "s3-credentials")
	if err := os.WriteFile(s3Creds, []byte("[default]\naws_access_key_id = "+s3.AccessKey+"\naws_secret_access_key = "+s3.SecretKey+"\n"), 0o600); err != nil {
		return err
	}
	// The server's own backupStore: backups stay with their server (residency).
	if err := os.WriteFile(filepath.Join(state, "database-servers.yaml"), []byte(fmt.Sprintf(
		"local:\n  dsn: %s\n  backupStore:\n    url: %s\n    credentials: %s\n", pg.AdminDSN(), s3.StoreURL("backups", "tenants"), s3Creds)), 0o600); err != nil {
		return err
	}

	say("starting the operator")
	cfg, err := config.Load(stack.OperatorArgs(
		"--runtime-image="+runtimeImage,
		"--base-domain=switchboard.localhost",
		"--url-scheme=http",
		"--metrics-bind-address=127.0.0.1:0",
		"--health-probe-bind-address=0",
		"--dependency-retry-after=5s",
	), func(string) string { return "" })
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(mustCreate(filepath.Join(state, "operator.log")))))
	mgr, err := controllers.NewManager(restCfg, cfg, controllers.ManagerOptions{})
	if err != nil {
		return err
	}
	mgrCtx, mgrCancel := context.WithCancel(ctx)
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	cleanups = append(cleanups, func() { mgrCancel(); <-mgrDone })

	k8s, err := client.New(restCfg, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		return err
	}
	say("applying config/samples")
	if err := applySamples(ctx, k8s, filepath.Join(root, "config", "samples")); err != nil {
		return err
	}

	say("waiting for the sample Workspace acme to be Ready (its runtime migrates its database and logs into Vault)")
	if err := waitReady(ctx, k8s, "acme"); err != nil {
		return err
	}
	say("waiting for the sample Backup acme-manual-1: pg_dump, encrypted under acme's transit key, into S3, then verified by a restore")
	if err := waitBackup(ctx, k8s, "acme-manual-1"); err != nil {
		return err
	}
	say("connecting acme to a simulated SMS network: the Telnyx emulator serves its number %s", devNumber)
	routeToIngress(ingressAddr.String())
	base := "http://acme.switchboard.localhost" + port
	channels, stopChannels, err := startChannels(ctx, k8s, base)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, stopChannels)
	say("waiting for acme's runtime to open its SMS and email channels (Integrations sms and email Ready, RuntimeConnected)")
	for _, name := range []string{"sms", "email"} {
		if err := waitConnected(ctx, k8s, name); err != nil {
			return err
		}
	}
	if err := channels.sendSMS("Hi! Where is my order #1001?"); err != nil {
		return fmt.Errorf("the first SMS: %w", err)
	}
	if err := channels.sendMail("Broken zipper", "Hello, the zipper on the jacket I bought last week broke. Can you help?"); err != nil {
		return fmt.Errorf("the first email: %w", err)
	}
	say("a customer texted acme and wrote to it: both conversations are in its inbox")
	kubectl, _ := harness.Bin("kubectl")
	fmt.Println()
	fmt.Printf("    $ kubectl get ws -o wide\n")
	out, _ := exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", "ws", "-o", "wide").CombinedOutput()
	fmt.Print(indent(out))
	out, _ = exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", "intg", "-A").CombinedOutput()
	fmt.Printf("    $ kubectl get intg -A\n%s", indent(out))
	out, _ = exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", "wsbk", "-o", "wide").CombinedOutput()
	fmt.Printf("    $ kubectl get wsbk -o wide\n%s", indent(out))
	fmt.Printf(`
Switchboard is running locally.

  Kubernetes API   %s
  kubeconfig       export KUBECONFIG=%s
  kubectl 1.37     %s   (the system kubectl may be too old for this API server)
  PostgreSQL       %s   (superuser postgres, password %q)
  Vault            %s   (dev mode, in memory; root token %q)
  S3 (backups)     %s   (versitygw; bucket backups, files under %s/s3)
  Logs             %s/{operator,kube-controller-manager,kube-scheduler}.log

Try:
  bin/kubectl get ws -w
  bin/kubectl describe ws acme
  bin/kubectl delete ws acme        # then: no database, role, Vault data or namespace is left
  bin/kubectl create -f - <<<'{"apiVersion":"tenancy.switchboard.dev/v1alpha1","kind":"Backup","metadata":{"name":"acme-2"},"spec":{"workspace":"acme","verify":true}}'
  bin/kubectl describe wsbk acme-2  # docs/backups.md: restore, expiry, shredding

The sample workspace's inbox:  http://acme.switchboard.localhost%s
  Sign in as owner@acme.example with the one-time password:
    bin/kubectl --kubeconfig %s -n ws-acme get secret initial-owner -o jsonpath='{.data.password}' | base64 -d; echo
  A simulated customer texts the workspace's number %s from %s, and
  emails its mailbox support@example.test from alice@example.test:  %s
  Answer in the inbox; the replies show on the customer's page.
  Runtime pods run as local processes on the dev node (logs in %s/pods); it stands
  in for the kubelet in development only. Apply another Workspace and its inbox
  is up within seconds at http://<name>.switchboard.localhost%s; delete it and
  its process stops.

Press Ctrl-C to stop everything.
`, restCfg.Host, kubeconfig, kubectl, pg.Addr(), harness.AdminPassword, vault.Addr(), harness.RootToken, s3.Endpoint(), state, state, port, kubeconfig,
		devNumber, devCustomer, channels.phone, state, port)

	if exitWhenReady {
		// The smoke test: the inbox answers through the dev ingress.
		req, _ := http.NewRequest(http.MethodGet, "http://"+ingressAddr.String()+"/login", nil)
		req.Host = "acme.switchboard.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("smoke test: %w", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Sign in") {
			return fmt.Errorf("smoke test: GET http://acme.switchboard.localhost%s/login answered %s", port, resp.Status)
		}
		say("smoke test passed: http://acme.switchboard.localhost%s/login shows the sign-in page", port)
		if err := channels.smoke(ctx, pg.AdminDSN()); err != nil {
			return fmt.Errorf("smoke test: %w", err)
		}
		return nil
	}
	select {
	case <-ctx.Done():
		fmt.Println()
		return nil
	case err := <-mgrDone:
		return fmt.Errorf("the operator stopped: %v", err)
	case <-kcm.Exited():
		return errors.New("kube-controller-manager exited; see .dev/kube-controller-manager.log")
	}
}

// applySamples creates every object in the sample files, waiting for the
// namespace of a namespaced object to appear (the operator creates ws-*).
func applySamples(ctx context.Context, k8s client.Client, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "tenancy_*.yaml"))
	if err != nil {
		return err
	}
	// Policies first, then workspaces, then a backup of the sample
	// workspace. The sample Integration's keys are placeholders: here the
	// workspace gets working channels instead (channels.go).
	order := []string{"retentionpolicy", "workspace", "backup"}
	for _, kind := range order {
		for _, f := range files {
			if filepath.Base(f) != "tenancy_v1alpha1_"+kind+".yaml" {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
			for {
				u := &unstructured.Unstructured{}
				if err := dec.Decode(&u.Object); err == io.EOF {
					break
				} else if err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				if len(u.Object) == 0 {
					continue
				}
				if err := createWhenNamespaceExists(ctx, k8s, u); err != nil {
					return fmt.Errorf("%s: %s %s: %w", filepath.Base(f), u.GetKind(), u.GetName(), err)
				}
				fmt.Printf("    created %s %s\n", u.GetKind(), client.ObjectKeyFromObject(u))
			}
		}
	}
	return nil
}

func createWhenNamespaceExists(ctx context.Context, k8s client.Client, u *unstructured.Unstructured) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := k8s.Create(ctx, u)
		if err == nil || client.IgnoreAlreadyExists(err) == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// poll calls check every half second for up to 3 minutes, until it is done
// or fails; timeout builds the error of a check that never finished.
func poll(ctx context.Context, check func() (done bool, err error), timeout func() error) error {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if done, err := check(); done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return timeout()
}

func waitReady(ctx context.Context, k8s client.Client, name string) error {
	var last string
	return poll(ctx, func() (bool, error) {
		ws := &tenancyv1.Workspace{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: name}, ws); err == nil {
			if c := meta.FindStatusCondition(ws.Status.Conditions, tenancyv1.ConditionReady); c != nil {
				last = c.Message
				return c.Status == metav1.ConditionTrue, nil
			}
		}
		return false, nil
	}, func() error {
		return fmt.Errorf("workspace %s was not Ready within 3 minutes (%s); see .dev/operator.log and .dev/pods/", name, last)
	})
}

// waitBackup waits until a Backup is Completed, and Verified if it asks for
// verification.
func waitBackup(ctx context.Context, k8s client.Client, name string) error {
	var last string
	return poll(ctx, func() (bool, error) {
		b := &tenancyv1.Backup{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: name}, b); err != nil {
			return false, nil
		}
		last = string(b.Status.Phase)
		verified := meta.FindStatusCondition(b.Status.Conditions, tenancyv1.BackupConditionVerified)
		switch {
		case b.Status.Phase == tenancyv1.BackupFailed:
			return false, fmt.Errorf("backup %s failed: %s", name, toJSON(b.Status.Conditions))
		case verified != nil && verified.Status == metav1.ConditionFalse:
			return false, fmt.Errorf("backup %s failed verification: %s", name, verified.Message)
		}
		return b.Status.Phase == tenancyv1.BackupCompleted && (!b.Spec.Verify || (verified != nil && verified.Status == metav1.ConditionTrue)), nil
	}, func() error {
		return fmt.Errorf("backup %s was not Completed and Verified within 3 minutes (phase %q); see .dev/operator.log", name, last)
	})
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func indent(b []byte) string {
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) > 0 {
			out.WriteString("    ")
			out.Write(line)
		}
	}
	return out.String()
}

func mustCreate(path string) io.Writer {
	f, err := os.Create(path)
	if err != nil {
		return os.Stderr
	}
	return f
}
