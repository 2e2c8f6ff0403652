// Command provision measures how fast the operator provisions workspaces
// against the real dependencies (PostgreSQL, Vault, etcd, kube-apiserver),
// what each workspace costs it (passes, API server writes, PostgreSQL and
// Vault round trips), and what a steady state with many workspaces costs:
// a resync, a restart, memory. The operator runs as its own process
// (bin/switchboard), so its CPU and RSS are its own; its figures come from
// its /metrics. It prints one table.
//
//	go run ./bench/provision [-latency 50] [-burst 200,1000] [-steady 2000] [-profile dir]
//
// -steady N tops the workspaces in place up to N, then restarts the operator
// (time until every workspace was seen once, writes, peak tenant database
// connections) and waits for one resync (writes, CPU per workspace). 0 skips it.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers"
	"github.com/switchboard-dev/switchboard/test/harness"
)

type options struct {
	latency     int
	bursts      []int
	steady      int
	syncPeriod  time.Duration
	concurrency int
	profileDir  string
	operator    string
	strategy    string
	keepLog     string
	outage      bool
}

func main() {
	var o options
	flag.IntVar(&o.latency, "latency", 50, "workspaces created (then deleted) one at a time to measure latency")
	bursts := flag.String("burst", "200,1000", "sizes of the bursts of workspaces created at once, in order, comma-separated (their workspaces stay)")
	flag.IntVar(&o.steady, "steady", 2000, "workspaces in place for the steady-state figures (resync, restart, RSS); 0 skips them")
	flag.DurationVar(&o.syncPeriod, "sync-period", time.Minute, "the operator's --sync-period during the steady-state run (one resync is measured)")
	flag.IntVar(&o.concurrency, "max-concurrent-reconciles", 0, "the operator's --max-concurrent-reconciles (0: its default)")
	flag.StringVar(&o.strategy, "create-strategy", "", "the database server's createStrategy (WAL_LOG or FILE_COPY; empty: PostgreSQL's default, WAL_LOG)")
	flag.BoolVar(&o.outage, "outage", true, "after the steady-state figures, stop the operator while an hourly backup slot of every workspace passes, restart it, and count the backups taken in the first minute (periodic work after an outage)")
	flag.StringVar(&o.keepLog, "log", "", "if set, copy the operator's log here at the end")
	flag.StringVar(&o.operator, "operator", "", "a prebuilt operator binary to measure (default: build the working tree into bin/switchboard)")
	flag.StringVar(&o.profileDir, "profile", "", "if set, save the operator's CPU, mutex and block profiles of each burst and of the resync here")
	flag.Parse()
	for _, f := range strings.Split(*bursts, ",") {
		if f = strings.TrimSpace(f); f == "" || f == "0" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "bench: -burst wants sizes such as 200,1000 (or 0 for none)")
			os.Exit(2)
		}
		o.bursts = append(o.bursts, n)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench: "+err.Error())
		os.Exit(1)
	}
}

// tracker records when each workspace first had DatabaseReady and VaultReady
// True, and when it disappeared, from a watch that is re-established (list,
// then watch) whenever the API server ends it.
type tracker struct {
	mu      sync.Mutex
	ready   map[string]time.Time
	gone    map[string]time.Time
	present map[string]bool
	changed chan struct{}
}

func newTracker() *tracker {
	return &tracker{ready: map[string]time.Time{}, gone: map[string]time.Time{}, present: map[string]bool{}, changed: make(chan struct{}, 1)}
}

func (t *tracker) observe(typ watch.EventType, ws *tenancyv1.Workspace, now time.Time) {
	switch {
	case typ == watch.Deleted:
		delete(t.present, ws.Name)
		if _, seen := t.gone[ws.Name]; !seen {
			t.gone[ws.Name] = now
		}
	default:
		t.present[ws.Name] = true
		if meta.IsStatusConditionTrue(ws.Status.Conditions, tenancyv1.ConditionDatabaseReady) &&
			meta.IsStatusConditionTrue(ws.Status.Conditions, tenancyv1.ConditionVaultReady) {
			if _, seen := t.ready[ws.Name]; !seen {
				t.ready[ws.Name] = now
			}
		}
	}
}

func (t *tracker) notify() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// follow keeps the tracker up to date until ctx ends.
func (t *tracker) follow(ctx context.Context, k8s client.WithWatch) {
	for ctx.Err() == nil {
		var list tenancyv1.WorkspaceList
		if err := k8s.List(ctx, &list); err != nil {
			time.Sleep(time.Second)
			continue
		}
		now := time.Now()
		t.mu.Lock()
		listed := map[string]bool{}
		for i := range list.Items {
			listed[list.Items[i].Name] = true
			t.observe(watch.Modified, &list.Items[i], now)
		}
		for name := range t.present {
			if !listed[name] {
				t.observe(watch.Deleted, &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: name}}, now)
			}
		}
		t.mu.Unlock()
		t.notify()
		w, err := k8s.Watch(ctx, &tenancyv1.WorkspaceList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		for ev := range w.ResultChan() {
			ws, ok := ev.Object.(*tenancyv1.Workspace)
			if !ok {
				continue // an error event: list and watch again
			}
			t.mu.Lock()
			t.observe(ev.Type, ws, time.Now())
			t.mu.Unlock()
			t.notify()
		}
		w.Stop()
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

// operator is one run of bin/switchboard.
type operator struct {
	cmd     *exec.Cmd
	metrics string // base URL of /metrics
	pprof   string // base URL of /debug/pprof
}

func startOperator(bin string, stack *harness.Stack, logPath string, extra ...string) (*operator, error) {
	mport, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	pport, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--runtime-image=switchboard/runtime:bench", "--base-domain=bench.example",
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(mport), "--health-probe-bind-address=0",
		"--pprof-bind-address=127.0.0.1:" + strconv.Itoa(pport)}, extra...)
	cmd := exec.Command(bin, stack.OperatorArgs(args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+stack.Kubeconfig)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	op := &operator{cmd: cmd, metrics: "http://127.0.0.1:" + strconv.Itoa(mport) + "/metrics",
		pprof: "http://127.0.0.1:" + strconv.Itoa(pport) + "/debug/pprof/"}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := op.scrape(); err == nil {
			return op, nil
		}
		if time.Now().After(deadline) {
			op.stop()
			return nil, fmt.Errorf("the operator serves no metrics after a minute; see %s", logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (op *operator) stop() {
	_ = op.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = op.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = op.cmd.Process.Kill()
		<-done
	}
}

// metrics is one scrape: sample lines ("name{labels}") to values.
type metrics map[string]float64

func (op *operator) scrape() (metrics, error) { return scrapeURL(http.DefaultClient, op.metrics) }

func scrapeURL(c *http.Client, url string) (metrics, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// sum adds the samples of name whose labels contain every one of labels.
func (m metrics) sum(name string, labels ...string) float64 {
	var total float64
	for k, v := range m {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(k, l)
		}
		if ok {
			total += v
		}
	}
	return total
}

// counts are the operator's work between two moments.
type counts struct {
	passes                 float64 // workspace controller reconciles
	apiWrites, apiReads    float64
	pgWrites, vaultWrites  float64
	pgCalls, vaultCalls    float64
	cpu                    time.Duration
	conflicts, otherErrors float64
}

func (op *operator) counts() (counts, error) {
	m, err := op.scrape()
	if err != nil {
		return counts{}, err
	}
	var c counts
	c.passes = m.sum("controller_runtime_reconcile_total", `controller="workspace"`)
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		c.apiWrites += m.sum("rest_client_requests_total", `method="`+method+`"`)
	}
	c.apiReads = m.sum("rest_client_requests_total", `method="GET"`)
	c.conflicts = m.sum("rest_client_requests_total", `code="409"`)
	c.pgWrites = m.sum("switchboard_external_writes_total", `system="postgres"`)
	c.vaultWrites = m.sum("switchboard_external_writes_total", `system="vault"`)
	c.pgCalls = m.sum("switchboard_external_requests_total", `system="postgres"`)
	c.vaultCalls = m.sum("switchboard_external_requests_total", `system="vault"`)
	c.otherErrors = m.sum("controller_runtime_reconcile_errors_total", `controller="workspace"`)
	c.cpu = procCPU(op.cmd.Process.Pid)
	return c, nil
}

func (c counts) minus(b counts) counts {
	return counts{
		passes: c.passes - b.passes, apiWrites: c.apiWrites - b.apiWrites, apiReads: c.apiReads - b.apiReads,
		pgWrites: c.pgWrites - b.pgWrites, vaultWrites: c.vaultWrites - b.vaultWrites,
		pgCalls: c.pgCalls - b.pgCalls, vaultCalls: c.vaultCalls - b.vaultCalls, cpu: c.cpu - b.cpu,
		conflicts: c.conflicts - b.conflicts, otherErrors: c.otherErrors - b.otherErrors,
	}
}

// perWorkspace describes c divided among n workspaces.
func (c counts) perWorkspace(n int) string {
	f := float64(n)
	return fmt.Sprintf("%.1f passes, %.1f API writes (%.2f conflicts), %.1f API reads, PostgreSQL %.1f writes of %.1f statements, Vault %.1f writes of %.1f requests, %.1f ms CPU",
		c.passes/f, c.apiWrites/f, c.conflicts/f, c.apiReads/f, c.pgWrites/f, c.pgCalls/f, c.vaultWrites/f, c.vaultCalls/f,
		float64(c.cpu.Microseconds())/1000/f)
}

// waitIdle waits until the workspace controller has reconciled at least
// passes times and its queue is empty with no pass running.
func (op *operator) waitIdle(ctx context.Context, passes float64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		m, err := op.scrape()
		if err == nil && m.sum("controller_runtime_reconcile_total", `controller="workspace"`) >= passes &&
			m.sum("workqueue_depth", `name="workspace"`) == 0 && m.sum("controller_runtime_active_workers", `controller="workspace"`) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the operator is not idle after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// profiler saves the operator's CPU profile in chunks while it runs, and
// its mutex and block profiles at start and end (pprof -base subtracts them).
type profiler struct {
	op   *operator
	dir  string
	name string
	stop chan struct{}
	done chan struct{}
}

// apiserverPprof, when set, also takes kube-apiserver's CPU profile beside
// the operator's: most of a workspace's CPU is spent outside the operator.
var apiserverPprof struct {
	client *http.Client
	base   string
}

func (op *operator) profile(dir, name string) *profiler {
	if dir == "" {
		return nil
	}
	p := &profiler{op: op, dir: dir, name: name, stop: make(chan struct{}), done: make(chan struct{})}
	p.save("mutex", name+"-mutex-start.pb.gz")
	p.save("block", name+"-block-start.pb.gz")
	go func() {
		defer close(p.done)
		for i := 1; ; i++ {
			var wg sync.WaitGroup
			if apiserverPprof.client != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					saveURL(apiserverPprof.client, apiserverPprof.base+"/debug/pprof/profile?seconds=5", filepath.Join(dir, fmt.Sprintf("%s-apiserver-cpu-%02d.pb.gz", name, i)))
				}()
			}
			p.save("profile?seconds=5", fmt.Sprintf("%s-cpu-%02d.pb.gz", name, i))
			wg.Wait()
			select {
			case <-p.stop:
				return
			default:
			}
		}
	}()
	return p
}

func (p *profiler) save(what, file string) {
	saveURL(http.DefaultClient, p.op.pprof+what, filepath.Join(p.dir, file))
}

func saveURL(c *http.Client, url, path string) {
	resp, err := c.Get(url)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

func (p *profiler) end() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
	p.save("mutex", p.name+"-mutex-end.pb.gz")
	p.save("block", p.name+"-block-end.pb.gz")
}

type row struct{ measure, value string }

// adder appends a row to rows and prints it as measured, in case a later
// step fails.
func adder(rows *[]row) func(measure, format string, a ...any) {
	return func(measure, format string, a ...any) {
		r := row{measure, fmt.Sprintf(format, a...)}
		*rows = append(*rows, r)
		fmt.Printf("bench: %s: %s\n", r.measure, r.value)
	}
}

func run(o options) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root, err := harness.Root()
	if err != nil {
		return err
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	bin := o.operator
	if bin == "" {
		bin = filepath.Join(root, "bin", "switchboard")
		fmt.Println("bench: building the operator into bin/switchboard")
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return err
		}
	}
	state, err := os.MkdirTemp("", "switchboard-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	if o.keepLog != "" {
		defer func() {
			if b, err := os.ReadFile(filepath.Join(state, "operator.log")); err == nil {
				_ = os.WriteFile(o.keepLog, b, 0o644)
			}
		}()
	}
	stack, err := harness.StartStack(ctx, state, "bench", func(m string) { fmt.Println("bench: " + m) })
	if err != nil {
		return err
	}
	defer stack.Close()

	if o.strategy != "" {
		servers := fmt.Sprintf("bench: {dsn: '%s', createStrategy: %s}\n", stack.PG.AdminDSN(), o.strategy)
		if err := os.WriteFile(filepath.Join(state, "database-servers.yaml"), []byte(servers), 0o600); err != nil {
			return err
		}
	}
	// A backup store, so that every workspace has scheduled backups (the
	// built-in daily slot unless the outage step sets a policy).
	// The file store's folder must exist: the operator never creates it (a
	// missing folder is an unmounted volume).
	if err := os.MkdirAll(filepath.Join(state, "backups"), 0o700); err != nil {
		return err
	}
	opArgs := []string{"--backup-store=file://" + filepath.Join(state, "backups")}
	if o.concurrency > 0 {
		opArgs = append(opArgs, "--max-concurrent-reconciles="+strconv.Itoa(o.concurrency))
	}
	logPath := filepath.Join(state, "operator.log")
	fmt.Println("bench: starting the operator")
	op, err := startOperator(bin, stack, logPath, opArgs...)
	if err != nil {
		return err
	}
	defer func() { op.stop() }()

	if o.profileDir != "" {
		if hc, err := rest.HTTPClientFor(stack.RestConfig); err == nil {
			apiserverPprof.client, apiserverPprof.base = hc, strings.TrimSuffix(stack.RestConfig.Host, "/")
		}
	}
	k8s, err := client.NewWithWatch(stack.RestConfig, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		return err
	}
	tr := newTracker()
	go tr.follow(ctx, k8s)
	readyOf := func(t *tracker) map[string]time.Time { return t.ready }
	goneOf := func(t *tracker) map[string]time.Time { return t.gone }
	var rows []row
	add := adder(&rows)
	total := 0 // workspaces in place
	loadAtStart := loadAverage()
	strategy := o.strategy
	if strategy == "" {
		strategy = "WAL_LOG (PostgreSQL's default)"
	}
	concurrency := "its default"
	if o.concurrency > 0 {
		concurrency = strconv.Itoa(o.concurrency)
	}
	add("setup", "--max-concurrent-reconciles %s, CREATE DATABASE strategy %s", concurrency, strategy)

	// Warm-up: the first workspace also creates the shared Vault mounts.
	if err := k8s.Create(ctx, workspace("warmup")); err != nil {
		return err
	}
	if _, err := tr.wait(ctx, []string{"warmup"}, readyOf, 2*time.Minute); err != nil {
		return err
	}
	total++

	if o.latency > 0 {
		fmt.Printf("bench: %d workspaces, one at a time\n", o.latency)
		var provision, deletion []time.Duration
		var seq []string
		before, err := op.counts()
		if err != nil {
			return err
		}
		for i := 0; i < o.latency; i++ {
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
		if err := op.waitIdle(ctx, 0, time.Minute); err != nil {
			return err
		}
		after, err := op.counts()
		if err != nil {
			return err
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
		if err := op.waitIdle(ctx, 0, time.Minute); err != nil {
			return err
		}
		deleted, err := op.counts()
		if err != nil {
			return err
		}
		add(fmt.Sprintf("create → DatabaseReady+VaultReady, one at a time, p50 / p99 (n=%d)", len(provision)), "%s / %s", pct(provision, 50), pct(provision, 99))
		add("delete (Delete policy) → gone, p50 / p99", "%s / %s", pct(deletion, 50), pct(deletion, 99))
		add("operator work per workspace created", "%s", after.minus(before).perWorkspace(o.latency))
		add("operator work per workspace deleted", "%s", deleted.minus(after).perWorkspace(o.latency))
	}

	var rates []float64
	for i, n := range o.bursts {
		prefix := fmt.Sprintf("b%d-", i+1)
		fmt.Printf("bench: %d workspaces at once\n", n)
		d, c, cpu, err := burst(ctx, op, k8s, tr, prefix, n, total, o.profileDir, fmt.Sprintf("burst-%d", n))
		if err != nil {
			return err
		}
		total += n
		rate := float64(n) / d.Seconds()
		rates = append(rates, rate)
		rss, hwm := procMemory(op.cmd.Process.Pid)
		add(fmt.Sprintf("%d workspaces created at once → all DatabaseReady+VaultReady", n), "%s (%.1f workspaces/s)", d.Round(time.Millisecond), rate)
		add(fmt.Sprintf("operator work per workspace, burst of %d", n), "%s", c.perWorkspace(n))
		add(fmt.Sprintf("CPU per workspace of the whole stack, burst of %d", n), "%s", cpu)
		add(fmt.Sprintf("operator RSS with %d workspaces in place", total), "%s (peak %s)", rss, hwm)
	}
	if len(rates) >= 2 {
		first, last := rates[0], rates[len(rates)-1]
		add(fmt.Sprintf("throughput at %d / throughput at %d", o.bursts[len(o.bursts)-1], o.bursts[0]), "%.2f (%+.0f %%)", last/first, (last/first-1)*100)
	}

	if o.steady > 0 {
		if o.steady > total {
			n := o.steady - total
			fmt.Printf("bench: steady state: %d more workspaces, to %d\n", n, o.steady)
			if _, _, _, err := burst(ctx, op, k8s, tr, "st-", n, total, "", ""); err != nil {
				return err
			}
			total += n
		}
		steadyRows, err := steady(ctx, o, bin, stack, logPath, opArgs, &op, total)
		rows = append(rows, steadyRows...)
		if err != nil {
			return err
		}
		if o.outage {
			outageRows, err := outage(ctx, k8s, bin, stack, logPath, opArgs, &op, total)
			rows = append(rows, outageRows...)
			if err != nil {
				return err
			}
		}
	}

	add("load average (1 min) at start / at end", "%s / %s", loadAtStart, loadAverage())
	fmt.Println()
	fmt.Println("| measure | value |")
	fmt.Println("|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s |\n", r.measure, r.value)
	}
	if o.profileDir != "" {
		fmt.Printf("\nprofiles in %s: go tool pprof -top %s/burst-1000-cpu-*.pb.gz; go tool pprof -top -base %s/burst-1000-mutex-start.pb.gz %s/burst-1000-mutex-end.pb.gz\n",
			o.profileDir, o.profileDir, o.profileDir, o.profileDir)
	}
	return nil
}

// burst creates n workspaces at once and waits until all are DatabaseReady
// and VaultReady, and the operator is idle. It returns the time from the first
// create to the last ready, and the operator's work until idle.
func burst(ctx context.Context, op *operator, k8s client.Client, tr *tracker, prefix string, n, inPlace int, profileDir, profileName string) (time.Duration, counts, string, error) {
	if err := op.waitIdle(ctx, 0, 5*time.Minute); err != nil {
		return 0, counts{}, "", err
	}
	before, err := op.counts()
	if err != nil {
		return 0, counts{}, "", err
	}
	cpuBefore := stackCPU()
	writesBefore := apiserverWrites()
	prof := op.profile(profileDir, profileName)
	var names []string
	for i := 0; i < n; i++ {
		names = append(names, fmt.Sprintf("%s%04d", prefix, i))
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for _, name := range names {
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
		prof.end()
		return 0, counts{}, "", err
	}
	at, err := tr.wait(ctx, names, func(t *tracker) map[string]time.Time { return t.ready }, 30*time.Minute)
	cpuAtReady, readyWall := stackCPU(), time.Since(start)
	prof.end()
	if err != nil {
		return 0, counts{}, "", err
	}
	var last time.Time
	for _, t := range at {
		if t.After(last) {
			last = t
		}
	}
	if err := op.waitIdle(ctx, 0, 5*time.Minute); err != nil {
		return 0, counts{}, "", err
	}
	time.Sleep(2 * time.Second) // passes queued by the last status writes
	if err := op.waitIdle(ctx, 0, 5*time.Minute); err != nil {
		return 0, counts{}, "", err
	}
	after, err := op.counts()
	if err != nil {
		return 0, counts{}, "", err
	}
	if w := writesPerWorkspace(writesBefore, apiserverWrites(), n); w != "" {
		fmt.Printf("bench: kube-apiserver writes per workspace, burst of %d: %s\n", n, w)
	}
	return last.Sub(start), after.minus(before), cpuPerWorkspace(cpuBefore, cpuAtReady, n, readyWall), nil
}

// steady restarts the operator with total workspaces in place, and measures
// the restart and then one resync.
func steady(ctx context.Context, o options, bin string, stack *harness.Stack, logPath string, opArgs []string, op **operator, total int) ([]row, error) {
	var rows []row
	add := adder(&rows)
	time.Sleep(5 * time.Second)
	if err := (*op).waitIdle(ctx, 0, 5*time.Minute); err != nil {
		return nil, err
	}
	idle0, err := (*op).counts()
	if err != nil {
		return nil, err
	}
	time.Sleep(10 * time.Second)
	idle1, err := (*op).counts()
	if err != nil {
		return nil, err
	}
	idle := idle1.minus(idle0)

	fmt.Printf("bench: restarting the operator with %d workspaces in place\n", total)
	(*op).stop()
	peak := &peakConns{}
	pctx, stopPeak := context.WithCancel(ctx)
	go peak.watch(pctx, stack.PG.AdminDSN())
	start := time.Now()
	args := append(append([]string{}, opArgs...), "--sync-period="+o.syncPeriod.String())
	next, err := startOperator(bin, stack, logPath, args...)
	if err != nil {
		stopPeak()
		return nil, err
	}
	*op = next
	if err := next.waitIdle(ctx, float64(total), 10*time.Minute); err != nil {
		stopPeak()
		return nil, err
	}
	seen := time.Since(start)
	time.Sleep(5 * time.Second) // anything the first passes queued
	if err := next.waitIdle(ctx, 0, 5*time.Minute); err != nil {
		stopPeak()
		return nil, err
	}
	stopPeak()
	restart, err := next.counts()
	if err != nil {
		return nil, err
	}
	add(fmt.Sprintf("restart with %d workspaces: until every workspace was seen once", total), "%s", seen.Round(time.Millisecond))
	add("restart: writes (API server / PostgreSQL / Vault)", "%.0f / %.0f / %.0f (%.1f passes per workspace, %.1f ms CPU per workspace)",
		restart.apiWrites, restart.pgWrites, restart.vaultWrites, restart.passes/float64(total), float64(restart.cpu.Microseconds())/1000/float64(total))
	add("restart: peak concurrent tenant database connections", "%d (%d connections of the operator's admin role)", peak.tenant, peak.admin)

	// One resync: every informer resyncs about --sync-period after it started,
	// within 10 % of it.
	fmt.Printf("bench: waiting for a resync (--sync-period %s)\n", o.syncPeriod)
	prof := next.profile(o.profileDir, "resync")
	// The informers resync about --sync-period after the start; the passes
	// then take their time (each reads Vault and PostgreSQL).
	if err := next.waitIdle(ctx, restart.passes+float64(total), o.syncPeriod*2+time.Duration(total)*50*time.Millisecond); err != nil {
		prof.end()
		now, _ := next.counts()
		add(fmt.Sprintf("resync of %d workspaces", total), "not finished: %.0f of %d passes after %s (%s)",
			now.passes-restart.passes, total, time.Since(start).Round(time.Second), err)
		return rows, nil
	}
	if wait := time.Until(start.Add(o.syncPeriod * 12 / 10)); wait > 0 {
		time.Sleep(wait)
	}
	if err := next.waitIdle(ctx, 0, 5*time.Minute); err != nil {
		prof.end()
		return nil, err
	}
	prof.end()
	after, err := next.counts()
	if err != nil {
		return nil, err
	}
	rs := after.minus(restart)
	add(fmt.Sprintf("resync of %d workspaces: writes (API server / PostgreSQL / Vault)", total), "%.0f / %.0f / %.0f", rs.apiWrites, rs.pgWrites, rs.vaultWrites)
	add("resync: work per workspace", "%s", rs.perWorkspace(total))
	add("idle operator (no change, between resyncs): CPU", "%.1f ms/s", float64(idle.cpu.Microseconds())/1000/10)
	rss, hwm := procMemory(next.cmd.Process.Pid)
	add(fmt.Sprintf("operator RSS with %d workspaces in place, after restart and resync", total), "%s (peak %s)", rss, hwm)
	return rows, nil
}

// peakConns polls pg_stat_activity for the most connections at once to
// tenant databases or as tenant roles, and of the admin role.
type peakConns struct {
	tenant, admin int
}

func (p *peakConns) watch(ctx context.Context, dsn string) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	for ctx.Err() == nil {
		var tenant, admin int
		err := conn.QueryRow(ctx, `SELECT
  count(*) FILTER (WHERE usename <> current_user OR datname NOT IN ('postgres', 'template1')),
  count(*) FILTER (WHERE usename = current_user AND datname IN ('postgres', 'template1'))
FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`).Scan(&tenant, &admin)
		if err != nil && !errors.Is(err, context.Canceled) {
			return
		}
		p.tenant, p.admin = max(p.tenant, tenant), max(p.admin, admin)
		time.Sleep(20 * time.Millisecond)
	}
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

// loadAverage is the machine's 1-minute load average: figures taken while
// other work ran are not comparable.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// procCPU is the user and system CPU time a process has used.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
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

// stackCPU is the CPU time each program of the stack has used, by command
// name: every live process's own time, plus, for the first process of a
// program (its parent is another program), what its exited children used
// (PostgreSQL's backends, reaped by the postmaster).
func stackCPU() map[string]time.Duration {
	type proc struct {
		comm        string
		ppid        int
		self, child int64
	}
	procs := map[int]proc{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		cut, _ := strconv.ParseInt(f[13], 10, 64)
		cst, _ := strconv.ParseInt(f[14], 10, 64)
		procs[pid] = proc{comm: s[open+1 : end], ppid: ppid, self: ut + st, child: cut + cst}
	}
	out := map[string]time.Duration{}
	for _, p := range procs {
		name := p.comm
		switch {
		case name == "postgres" || strings.HasPrefix(name, "postgres"):
			name = "postgres"
		case name == "kube-apiserver", name == "etcd", name == "vault", name == "switchboard":
		default:
			continue
		}
		ticks := p.self
		if parent, ok := procs[p.ppid]; !ok || !strings.HasPrefix(parent.comm, name) {
			ticks += p.child
		}
		out[name] += time.Duration(ticks) * 10 * time.Millisecond
	}
	return out
}

// cpuPerWorkspace formats the stack's CPU between two stackCPU readings,
// per workspace, largest first, with the share of the machine it used.
func cpuPerWorkspace(before, after map[string]time.Duration, n int, wall time.Duration) string {
	type use struct {
		name string
		d    time.Duration
	}
	var uses []use
	var sum time.Duration
	for name, d := range after {
		d -= before[name]
		uses = append(uses, use{name, d})
		sum += d
	}
	sort.Slice(uses, func(i, j int) bool { return uses[i].d > uses[j].d })
	var parts []string
	for _, u := range uses {
		parts = append(parts, fmt.Sprintf("%s %.1f", u.name, float64(u.d.Microseconds())/1000/float64(n)))
	}
	busy := 0.0
	if wall > 0 {
		busy = sum.Seconds() / wall.Seconds()
	}
	return fmt.Sprintf("%.1f ms (%s); %.2f of %d cores busy", float64(sum.Microseconds())/1000/float64(n), strings.Join(parts, ", "), busy, runtime.NumCPU())
}

// apiserverWrites counts kube-apiserver's write requests by verb and
// resource (with subresource), from its own apiserver_request_total.
func apiserverWrites() map[string]float64 {
	out := map[string]float64{}
	if apiserverPprof.client == nil {
		return out
	}
	m, err := scrapeURL(apiserverPprof.client, apiserverPprof.base+"/metrics")
	if err != nil {
		return out
	}
	label := func(k, name string) string {
		i := strings.Index(k, name+`="`)
		if i < 0 {
			return ""
		}
		v := k[i+len(name)+2:]
		return v[:strings.IndexByte(v, '"')]
	}
	for k, v := range m {
		if !strings.HasPrefix(k, "apiserver_request_total{") {
			continue
		}
		verb := label(k, "verb")
		switch verb {
		case "POST", "PUT", "PATCH", "DELETE", "CREATE", "UPDATE", "APPLY":
		default:
			continue
		}
		r := label(k, "resource")
		if sub := label(k, "subresource"); sub != "" {
			r += "/" + sub
		}
		out[verb+" "+r] += v
	}
	return out
}

func writesPerWorkspace(before, after map[string]float64, n int) string {
	var keys []string
	for k := range after {
		if after[k]-before[k] > 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return after[keys[i]]-before[keys[i]] > after[keys[j]]-before[keys[j]] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, (after[k]-before[k])/float64(n)))
	}
	return strings.Join(parts, ", ")
}

// outage makes every workspace miss a backup slot while the operator is
// down: a default RetentionPolicy gets an hourly schedule whose slot falls
// in the outage; after the restart the missed backups must be spread over
// --periodic-spread (1h), not all taken at once. It reports how many were
// taken in the first minute and the peak tenant connections meanwhile.
func outage(ctx context.Context, k8s client.Client, bin string, stack *harness.Stack, logPath string, opArgs []string, op **operator, total int) ([]row, error) {
	var rows []row
	add := adder(&rows)
	// The operator stops; meanwhile a default RetentionPolicy gives every
	// workspace an hourly backup slot, which passes before the restart.
	(*op).stop()
	slot := time.Now().Add(15 * time.Second).Truncate(time.Minute).Add(time.Minute)
	policy := &tenancyv1.RetentionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bench-outage",
		Annotations: map[string]string{tenancyv1.AnnotationDefaultPolicy: "true"}}}
	policy.Spec.Backups = tenancyv1.BackupRetention{Schedule: fmt.Sprintf("%d * * * *", slot.Minute()), RetainFor: "2d", AfterDeletion: "1d"}
	fmt.Printf("bench: outage: the operator is stopped; every workspace now backs up hourly at minute %d, and the slot at %s passes before the restart\n",
		slot.Minute(), slot.Format("15:04:05"))
	if err := k8s.Create(ctx, policy); err != nil {
		return nil, err
	}
	time.Sleep(time.Until(slot) + 5*time.Second)

	before := map[string]bool{}
	var list tenancyv1.BackupList
	if err := k8s.List(ctx, &list); err != nil {
		return nil, err
	}
	for _, b := range list.Items {
		before[b.Name] = true
	}
	peak := &peakConns{}
	pctx, stopPeak := context.WithCancel(ctx)
	go peak.watch(pctx, stack.PG.AdminDSN())
	start := time.Now()
	next, err := startOperator(bin, stack, logPath, opArgs...)
	if err != nil {
		stopPeak()
		return nil, err
	}
	*op = next
	// Every workspace takes up the new schedule (a status write each) and
	// decides whether its backup is due; then the backups are counted.
	if err := next.waitIdle(ctx, float64(total), 10*time.Minute); err != nil {
		stopPeak()
		return nil, err
	}
	elapsed := time.Since(slot)
	stopPeak()
	if err := k8s.List(ctx, &list); err != nil {
		return nil, err
	}
	created, completed := 0, 0
	phases := map[string]int{}
	for _, b := range list.Items {
		if before[b.Name] || b.Spec.Reason != tenancyv1.BackupReasonScheduled {
			continue
		}
		created++
		if b.Status.Phase == tenancyv1.BackupCompleted {
			completed++
		}
		why := string(b.Status.Phase)
		for _, c := range b.Status.Conditions {
			if c.Status != metav1.ConditionTrue {
				why += " (" + c.Reason + ": " + c.Message + ")"
			}
		}
		phases[why]++
	}
	for why, n := range phases {
		fmt.Printf("bench: outage: %d Backups %s\n", n, why)
	}
	add(fmt.Sprintf("restart after an outage in which the backup slot of all %d workspaces passed: Backups created by the time every workspace had been seen (%s after the slot, %s after the restart)",
		total, elapsed.Round(time.Second), time.Since(start).Round(time.Second)),
		"%d, %d of them completed (spread over --periodic-spread 1h, about %.0f were due by then; without the spread, all %d at once)",
		created, completed, float64(total)*elapsed.Hours(), total)
	add("outage restart: peak concurrent tenant database connections meanwhile", "%d (%d of the admin role)", peak.tenant, peak.admin)
	return rows, nil
}
