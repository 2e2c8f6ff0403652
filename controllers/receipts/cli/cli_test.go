package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/switchboard-dev/switchboard/controllers/receipts"
	"github.com/switchboard-dev/switchboard/controllers/receipts/cli"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// TestVerifyAndExport runs the command against a real API server: verify
// exits 0 on a sound chain and 1 naming the entry an edit broke; export
// writes what verify --file and a JSON decoder read back.
func TestVerifyAndExport(t *testing.T) {
	assets, err := harness.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin, err := env.ControlPlane.AddUser(envtest.User{Name: "auditor", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	k8s, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const ns = "switchboard-system"
	log := receipts.New(k8s, ns, receipts.Options{SegmentEntries: 4})
	var appended []receipts.Entry
	for i := range 6 {
		e, err := log.Append(ctx, receipts.KindBackupPurged, "acme", "uid-acme", fmt.Sprintf("Backup/acme-%d", i),
			map[string]any{"backup": fmt.Sprintf("acme-%d", i), "existed": true, "size": 1000 + i})
		if err != nil {
			t.Fatal(err)
		}
		appended = append(appended, e)
	}
	// POD_NAMESPACE picks the namespace, as in the operator's pod.
	getenv := func(k string) string {
		if k == "POD_NAMESPACE" {
			return ns
		}
		return ""
	}
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := cli.Run(ctx, args, getenv, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, out, errOut := run("verify", "--kubeconfig", kubeconfig)
	if code != 0 || !strings.Contains(out, "verified: 6 entries") || !strings.Contains(out, appended[5].Hash) {
		t.Fatalf("verify = %d\n%s%s", code, out, errOut)
	}

	code, export, errOut := run("export", "--kubeconfig", kubeconfig, "--namespace", ns)
	if code != 0 {
		t.Fatalf("export = %d: %s", code, errOut)
	}
	var decoded []receipts.Entry
	if err := json.Unmarshal([]byte(export), &decoded); err != nil {
		t.Fatalf("the export is not a JSON array of entries: %v\n%s", err, export)
	}
	if len(decoded) != len(appended) {
		t.Fatalf("the export holds %d entries; want %d", len(decoded), len(appended))
	}
	for i, e := range decoded {
		a := appended[i]
		if e.Seq != a.Seq || e.Hash != a.Hash || e.Prev != a.Prev || e.Object != a.Object || string(e.Details) != string(a.Details) || !e.Time.Equal(a.Time) {
			t.Fatalf("exported entry %d\n%+v\nappended\n%+v", i+1, e, a)
		}
	}
	file := filepath.Join(dir, "export.json")
	if code, _, errOut := run("export", "--kubeconfig", kubeconfig, "--out", file); code != 0 {
		t.Fatalf("export --out = %d: %s", code, errOut)
	}
	if got, err := os.ReadFile(file); err != nil || string(got) != export {
		t.Fatalf("export --out wrote something else than export to standard output (%v)", err)
	}
	code, out, errOut = run("verify", "--file", file)
	if code != 0 || !strings.Contains(out, "verified: 6 entries") {
		t.Fatalf("verify --file = %d\n%s%s", code, out, errOut)
	}

	// An edited export fails where it was edited.
	edited := filepath.Join(dir, "edited.json")
	if err := os.WriteFile(edited, []byte(strings.Replace(export, `"size":1002`, `"size":1`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run("verify", "--file", edited); code != 1 || !strings.Contains(errOut, "broken at entry 3: hash mismatch") {
		t.Fatalf("verify --file of an edited export = %d: %s", code, errOut)
	}

	// Edit entry 3's details in the cluster.
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: receipts.SegmentName(1)}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["3.json"] = strings.Replace(cm.Data["3.json"], `"size":1002`, `"size":1`, 1)
	if err := k8s.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run("verify", "--kubeconfig", kubeconfig, "--json")
	if code != 1 || !strings.Contains(errOut, "broken at entry 3: hash mismatch") || !strings.Contains(errOut, "2 entries before it verified") {
		t.Fatalf("verify of an edited chain = %d\n%s%s", code, out, errOut)
	}
	var rep receipts.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Broken == nil || rep.Broken.Seq != 3 {
		t.Fatalf("verify --json printed %s (%v)", out, err)
	}

	if code, _, _ := run("audit"); code != 2 {
		t.Fatalf("an unknown subcommand exits %d; want 2", code)
	}
	if code, _, errOut := run("verify", "--kubeconfig", filepath.Join(dir, "missing")); code != 1 || !strings.Contains(errOut, "no Kubernetes configuration") {
		t.Fatalf("verify with a missing kubeconfig = %d: %s", code, errOut)
	}
}
