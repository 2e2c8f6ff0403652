// Command provision measures how fast the operator provisions workspaces
// against the real dependencies (PostgreSQL, Vault, etcd, kube-apiserver), and
// how much memory it holds. The operator runs as its own process (bin/switchboard),
// so its RSS is its own. It prints a table.
//
//	go run ./bench/provision [-latency 50] [-burst 200]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers"
	"github.com/switchboard-dev/switchboard/test/harness"
)

func main() {
	latencyN := flag.Int("latency", 50, "workspaces created one at a time to measure create-to-provisioned latency")
	burstN := flag.Int("burst", 200, "workspaces created at once to measure provisioning throughput and memory")
	flag.Parse()
	if err := run(*latencyN, *burstN); err != nil {
		fmt.Fprintln(os.Stderr, "bench: "+err.Error())
		os.Exit(1)
	}
}

// tracker records when each workspace first had DatabaseReady and VaultReady
// True, and when it disappeared, from a watch.
type tracker struct {
	mu      sync.Mutex
	ready   map[string]time.Time
	gone    map[string]time.Time
	changed chan struct{}
}

func (t *tracker) observe(ev watch.Event) {
	ws, ok := ev.Object.(*tenancyv1.Workspace)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	switch {
	case ev.Type == watch.Deleted:
		t.gone[ws.Name] = now
	case meta.IsStatusConditionTrue(ws.Status.Conditions, tenancyv1.ConditionDatabaseReady) &&
		meta.IsStatusConditionTrue(ws.Status.Conditions, tenancyv1.ConditionVaultReady):
		if _, seen := t.ready[ws.Name]; !seen {
			t.ready[ws.Name] = now
		}
	default:
		return
	}
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

func (t *tracker) wait(ctx context.Context, names []string, in func(*tracker) map[string]time.Time, timeout time.Duration) (map[string]time.Time, error) {
	deadline := time.After(timeout)
	for {
		t.mu.Lock()
		m := in(t)
		out := make(map[string]time.Time, len(names))
		for _, n := range names {
			if at, ok := m[n]; ok {
				out[n] = at
			}
		}
		t.mu.Unlock()
		if len(out) == len(names) {
			return out, nil
		}
		select {
		case <-t.changed:
		case <-time.After(time.Second):
		case <-deadline:
			return nil, fmt.Errorf("%d of %d workspaces done after %s", len(out), len(names), timeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func workspace(name string) *tenancyv1.Workspace {
	return &tenancyv1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: tenancyv1.WorkspaceSpec{
			Owner:          tenancyv1.WorkspaceOwner{Email: "owner@" + name + ".example"},
			DatabaseServer: "bench",
			Plan:           tenancyv1.PlanStarter,
		},
	}
}

func run(latencyN, burstN int) error {
	ctx := context.Background()
	root, err := harness.Root()
	if err != nil {
		return err
	}
	operator := filepath.Join(root, "bin", "switchboard")
	fmt.Println("bench: building the operator into bin/switchboard")
	build := exec.Command("go", "build", "-o", operator, ".")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return err
	}
	state, err := os.MkdirTemp("", "switchboard-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	stack, err := harness.StartStack(ctx, state, "bench", func(m string) { fmt.Println("bench: " + m) })
	if err != nil {
		return err
	}
	defer stack.Close()

	fmt.Println("bench: starting the operator")
	cmd := exec.Command(operator, stack.OperatorArgs(
		"--runtime-image=switchboard/runtime:bench", "--base-domain=bench.example",
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--max-concurrent-reconciles=4")...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+stack.Kubeconfig)
	logf, err := os.Create(filepath.Join(state, "operator.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	k8s, err := client.NewWithWatch(stack.RestConfig, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		return err
	}
	w, err := k8s.Watch(ctx, &tenancyv1.WorkspaceList{})
	if err != nil {
		return err
	}
	defer w.Stop()
	tr := &tracker{ready: map[string]time.Time{}, gone: map[string]time.Time{}, changed: make(chan struct{}, 1)}
	go func() {
		for ev := range w.ResultChan() {
			tr.observe(ev)
		}
	}()
	readyOf := func(t *tracker) map[string]time.Time { return t.ready }
	goneOf := func(t *tracker) map[string]time.Time { return t.gone }

	// Warm-up: the first workspace also creates the shared Vault mounts.
	if err := k8s.Create(ctx, workspace("warmup")); err != nil {
		return err
	}
	if _, err := tr.wait(ctx, []string{"warmup"}, readyOf, 2*time.Minute); err != nil {
		return err
	}

	fmt.Printf("bench: %d workspaces, one at a time\n", latencyN)
	var provision, deletion []time.Duration
	var seq []string
	for i := 0; i < latencyN; i++ {
		name := fmt.Sprintf("lat-%03d", i)
		start := time.Now()
		if err := k8s.Create(ctx, workspace(name)); err != nil {
			return err
		}
		at, err := tr.wait(ctx, []string{name}, readyOf, time.Minute)
		if err != nil {
			return err
		}
		provision = append(provision, at[name].Sub(start))
		seq = append(seq, name)
	}
	fmt.Printf("bench: deleting them, one at a time\n")
	for _, name := range seq {
		start := time.Now()
		if err := k8s.Delete(ctx, workspace(name)); err != nil {
			return err
		}
		at, err := tr.wait(ctx, []string{name}, goneOf, time.Minute)
		if err != nil {
			return err
		}
		deletion = append(deletion, at[name].Sub(start))
	}

	fmt.Printf("bench: %d workspaces at once\n", burstN)
	var burst []string
	for i := 0; i < burstN; i++ {
		burst = append(burst, fmt.Sprintf("burst-%03d", i))
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, burstN)
	sem := make(chan struct{}, 16)
	for _, name := range burst {
		wg.Add(1)
		sem <- struct{}{}
		go func(name string) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := k8s.Create(ctx, workspace(name)); err != nil {
				errs <- err
			}
		}(name)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	at, err := tr.wait(ctx, burst, readyOf, 15*time.Minute)
	if err != nil {
		return err
	}
	var last time.Time
	for _, t := range at {
		if t.After(last) {
			last = t
		}
	}
	total := last.Sub(start)
	time.Sleep(5 * time.Second) // let the resync after the burst settle
	rss, hwm := procMemory(cmd.Process.Pid)

	fmt.Println()
	fmt.Println("| measure | value |")
	fmt.Println("|---|---|")
	fmt.Printf("| create → DatabaseReady+VaultReady, p50 (n=%d, one at a time) | %s |\n", len(provision), pct(provision, 50))
	fmt.Printf("| create → DatabaseReady+VaultReady, p99 | %s |\n", pct(provision, 99))
	fmt.Printf("| delete (Delete policy) → gone, p50 (n=%d) | %s |\n", len(deletion), pct(deletion, 50))
	fmt.Printf("| delete → gone, p99 | %s |\n", pct(deletion, 99))
	fmt.Printf("| provision %d workspaces created at once | %s (%.1f workspaces/s) |\n", burstN, total.Round(time.Millisecond), float64(burstN)/total.Seconds())
	fmt.Printf("| operator RSS with %d workspaces in place | %s (peak %s) |\n", burstN+1, rss, hwm)
	return nil
}

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1].Round(time.Millisecond)
}

// procMemory reads VmRSS and VmHWM of a process.
func procMemory(pid int) (rss, hwm string) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "?", "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.Atoi(f[1])
		v := fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}
