package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime is a process's user plus system CPU time so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields start after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

func parentPID(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// postgresPIDs lists the postmaster of the server dsn reaches and all its
// children (backends and auxiliary processes). Other PostgreSQL servers on
// the machine are not counted.
func postgresPIDs(ctx context.Context, dsn string) ([]int, error) {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	var backend int
	if err := c.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return nil, err
	}
	postmaster := parentPID(backend)
	pids := []int{postmaster}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid != backend && parentPID(pid) == postmaster {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// cpuSplit says how much CPU the runtime, PostgreSQL and the bench itself
// (the load generator) used during a phase.
type cpuSplit struct {
	runtime, postgres, bench time.Duration
}

// cpuMeter measures a phase's cpuSplit.
type cpuMeter struct {
	runtimePID int
	dsn        string
	start      cpuSplit
	pgStart    map[int]time.Duration
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(ctx context.Context, runtimePID int, dsn string) (*cpuMeter, error) {
	m := &cpuMeter{runtimePID: runtimePID, dsn: dsn, pgStart: map[int]time.Duration{}}
	pids, err := postgresPIDs(ctx, dsn)
	if err != nil {
		return nil, err
	}
	for _, p := range pids {
		m.pgStart[p] = cpuTime(p)
	}
	m.start = cpuSplit{runtime: cpuTime(runtimePID), bench: selfCPU()}
	return m, nil
}

func (m *cpuMeter) stop(ctx context.Context) cpuSplit {
	out := cpuSplit{runtime: cpuTime(m.runtimePID) - m.start.runtime, bench: selfCPU() - m.start.bench}
	pids, _ := postgresPIDs(ctx, m.dsn)
	for _, p := range pids {
		out.postgres += cpuTime(p) - m.pgStart[p] // a backend that started during the phase counts whole
	}
	return out
}

// perMessage formats d divided over n messages, in microseconds.
func perMessage(d time.Duration, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(n))
}

// loadAvg is the first field of /proc/loadavg: the machine is shared, so a
// figure means little without it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// profiler collects, for one ingest phase, the runtime's CPU profile
// (from its SWITCHBOARD_DEBUG_PPROF_ADDR endpoint), PostgreSQL's statement
// statistics (pg_stat_statements) and a sample of what the runtime's
// database sessions were waiting on (pg_stat_activity).
type profiler struct {
	dir       string
	pprofAddr string
	delay     time.Duration // from the start of a phase to the start of its CPU profiles
	seconds   int
	dsn       string
}

// phase profiles one phase; call the returned function when it ends, and
// it writes dir/<name>.cpu.pprof and dir/<name>.pg.txt and returns a
// summary for the report.
func (p *profiler) phase(ctx context.Context, name string, messages int) (func() (string, error), error) {
	c, err := pgx.Connect(ctx, p.dsn)
	if err != nil {
		return nil, err
	}
	if _, err := c.Exec(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
		c.Close(ctx)
		return nil, fmt.Errorf("pg_stat_statements: %w", err)
	}
	var wg sync.WaitGroup
	var profErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(p.delay)
		profErr = fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.pprofAddr, p.seconds),
			filepath.Join(p.dir, name+".cpu.pprof"), time.Duration(p.seconds+30)*time.Second)
	}()
	// PostgreSQL's own CPU profile, where perf is installed and may sample.
	perfData := filepath.Join(p.dir, name+".postgres.perf.data")
	var perfDone chan error
	if perf, err := exec.LookPath("perf"); err == nil {
		if pids, err := postgresPIDs(ctx, p.dsn); err == nil {
			list := make([]string, len(pids))
			for i, pid := range pids {
				list[i] = strconv.Itoa(pid)
			}
			cmd := exec.Command("sh", "-c", `sleep "$1"; shift; exec "$@"`, "sh", strconv.Itoa(int(p.delay/time.Second)), perf, "record", "-q", "-e", "cpu-clock", "-F", "499", "-g", "-o", perfData,
				"-p", strings.Join(list, ","), "--", "sleep", strconv.Itoa(p.seconds))
			perfDone = make(chan error, 1)
			go func() { perfDone <- cmd.Run() }()
		}
	}
	// Sample the runtime's sessions every 5 ms.
	waits := map[string]int{}
	samples := 0
	// Stopping must not cancel a query under way: pgx closes a connection
	// whose query is cancelled.
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
			rows, err := c.Query(ctx, `SELECT state, coalesce(wait_event_type, ''), coalesce(wait_event, '') FROM pg_stat_activity
				WHERE application_name = 'switchboard-runtime' AND backend_type = 'client backend'`)
			if err != nil {
				return
			}
			for rows.Next() {
				var state, typ, ev string
				if rows.Scan(&state, &typ, &ev) == nil {
					key := state
					switch {
					case state == "active" && typ == "":
						key = "active: on CPU"
					case typ != "":
						key = state + ": " + typ + "/" + ev
					}
					waits[key]++
				}
			}
			rows.Close()
			samples++
		}
	}()
	return func() (string, error) {
		close(stopSampling)
		<-sampled
		defer c.Close(ctx)
		var b strings.Builder
		fmt.Fprintf(&b, "PostgreSQL statements during %s (%d messages)\n\n", name, messages)
		rows, err := c.Query(ctx, `SELECT calls, total_exec_time, total_plan_time, rows, regexp_replace(query, '\s+', ' ', 'g')
			FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
			ORDER BY total_exec_time DESC`)
		if err != nil {
			return "", err
		}
		type stmt struct {
			calls      int64
			exec, plan float64
			rows       int64
			query      string
		}
		var all []stmt
		var calls int64
		var execMs float64
		for rows.Next() {
			var s stmt
			if err := rows.Scan(&s.calls, &s.exec, &s.plan, &s.rows, &s.query); err != nil {
				rows.Close()
				return "", err
			}
			if strings.Contains(s.query, "pg_stat_activity") || strings.Contains(s.query, "pg_stat_statements") {
				continue // the profiler's own
			}
			all = append(all, s)
			calls += s.calls
			execMs += s.exec
		}
		rows.Close()
		fmt.Fprintf(&b, "%.1f statements and %.0f µs of executor time per message\n\n", float64(calls)/float64(messages), execMs*1000/float64(messages))
		fmt.Fprintf(&b, "%8s %8s %10s %10s  %s\n", "calls", "per msg", "exec µs/c", "share", "statement")
		for _, s := range all {
			q := s.query
			if len(q) > 200 {
				// Statements that start alike end differently.
				q = q[:110] + " … " + q[len(q)-90:]
			}
			fmt.Fprintf(&b, "%8d %8.2f %10.1f %9.1f%%  %s\n", s.calls, float64(s.calls)/float64(messages), s.exec*1000/float64(s.calls), 100*s.exec/execMs, q)
		}
		type kv struct {
			k string
			n int
		}
		var ws []kv
		total := 0
		for k, n := range waits {
			ws = append(ws, kv{k, n})
			total += n
		}
		sort.Slice(ws, func(i, j int) bool { return ws[i].n > ws[j].n })
		fmt.Fprintf(&b, "\nRuntime sessions by state, %d samples of pg_stat_activity (5 ms apart)\n\n", samples)
		for _, w := range ws {
			fmt.Fprintf(&b, "%6.1f%%  %s\n", 100*float64(w.n)/float64(max(total, 1)), w.k)
		}
		wg.Wait()
		if profErr != nil {
			// A build without SWITCHBOARD_DEBUG_PPROF_ADDR (-runtime-bin of an
			// older one) has no profile to give; the rest still holds.
			fmt.Fprintf(&b, "\nNo CPU profile of the runtime: %v\n", profErr)
		}
		if perfDone != nil {
			if err := <-perfDone; err == nil {
				out, _ := exec.Command("perf", "report", "-i", perfData, "--no-children", "--sort", "symbol",
					"--stdio", "-g", "none", "--percent-limit", "1").Output()
				fmt.Fprintf(&b, "\nPostgreSQL's processes by function (perf, %s)\n\n", perfData)
				for _, line := range strings.Split(string(out), "\n") {
					if strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "#") {
						fmt.Fprintln(&b, line)
					}
				}
			}
		}
		out := b.String()
		return out, os.WriteFile(filepath.Join(p.dir, name+".pg.txt"), []byte(out), 0o644)
	}, nil
}

func fetch(url, file string, timeout time.Duration) error {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
