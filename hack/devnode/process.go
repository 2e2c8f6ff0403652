package devnode

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchboard-dev/switchboard/test/harness"
)

// listenAddrEnv is how the runtime is told where to listen; the node moves it
// to a free loopback port so that many pods can share the machine.
const listenAddrEnv = "SWITCHBOARD_LISTEN_ADDR"

// container is one container of a pod: the process standing in for it,
// restarted according to the pod's restartPolicy.
type container struct {
	r    *podRun
	name string
	// portMap maps container ports to the loopback ports that serve them.
	portMap map[int32]int

	restart chan struct{}

	// Guarded by r.mu.
	spec                      corev1.Container
	argv                      []string // nil when the image has no local command
	setupReason, setupMessage string
	state, last               corev1.ContainerState
	restarts                  int32
	started, ready            bool
	pid                       int
}

func newContainer(r *podRun, spec corev1.Container) *container {
	c := &container{r: r, name: spec.Name, spec: spec, argv: r.p.argvFor(spec.Image), portMap: map[int32]int{}, restart: make(chan struct{}, 1)}
	for _, e := range spec.Env {
		if e.Name != listenAddrEnv || e.ValueFrom != nil {
			continue
		}
		_, p, err := net.SplitHostPort(e.Value)
		n, err2 := strconv.Atoi(p)
		if err != nil || err2 != nil {
			r.log.Warn("cannot parse the listen address; not moving it", "container", spec.Name, "value", e.Value)
			continue
		}
		free, err := harness.FreePort() // below the ephemeral range: kept across restarts
		if err != nil {
			r.log.Warn("no free port", "err", err)
			continue
		}
		c.portMap[int32(n)] = free
	}
	return c
}

func (p *provider) argvFor(image string) []string {
	argv := p.opts.Images[image]
	if len(argv) == 0 {
		return nil
	}
	out := append([]string(nil), argv...)
	// A relative command would otherwise resolve against the pod's directory.
	if strings.Contains(out[0], "/") && !filepath.IsAbs(out[0]) {
		if abs, err := filepath.Abs(out[0]); err == nil {
			out[0] = abs
		}
	}
	return out
}

// hostPort is where the process serves container port n.
func (c *container) hostPort(n int32) int {
	if p, ok := c.portMap[n]; ok {
		return p
	}
	return int(n)
}

func (c *container) requestRestart() {
	select {
	case c.restart <- struct{}{}:
	default:
	}
}

func (c *container) statusLocked() corev1.ContainerStatus {
	cs := corev1.ContainerStatus{
		Name:                 c.spec.Name,
		Image:                c.spec.Image,
		ImageID:              "devnode://" + c.spec.Image,
		State:                c.state,
		LastTerminationState: c.last,
		Ready:                c.ready,
		RestartCount:         c.restarts,
		Started:              new(c.started),
	}
	if c.pid != 0 {
		cs.ContainerID = fmt.Sprintf("devnode://%d", c.pid)
	}
	switch {
	case c.argv == nil && c.state.Terminated == nil:
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason:  "ErrImageNeverPull",
			Message: fmt.Sprintf("devnode has no local command for image %q; add it to devnode.Options.Images", c.spec.Image),
		}}
	case c.setupReason != "" && c.state.Running == nil && c.state.Terminated == nil:
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: c.setupReason, Message: c.setupMessage}}
	case c.state == (corev1.ContainerState{}):
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	}
	if c.r.stopped && cs.State.Terminated == nil {
		// The pod stopped while this container was waiting: report how it
		// last ended, or, if it never ran, what the kubelet reports then.
		if c.last.Terminated != nil {
			cs.State = corev1.ContainerState{Terminated: c.last.Terminated.DeepCopy()}
		} else {
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 137, Reason: "ContainerStatusUnknown", Message: "the pod stopped before the container ran",
			}}
		}
	}
	return cs
}

func (c *container) set(f func()) {
	c.r.mu.Lock()
	f()
	c.r.mu.Unlock()
	c.r.notify()
}

// run starts the process and restarts it with a growing backoff until the
// pod stops or the restart policy says it is done.
func (c *container) run() {
	logFile, err := os.OpenFile(filepath.Join(c.r.p.opts.LogDir, fmt.Sprintf("%s_%s_%s.log", c.r.namespace, c.r.name, c.name)),
		os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.set(func() { c.state = waiting("RunContainerError", err.Error()) })
		return
	}
	defer logFile.Close()

	backoff := newBackoff()
	for {
		c.r.mu.Lock()
		spec, argv, pod := c.spec, append([]string(nil), c.argv...), c.r.pod.DeepCopy()
		c.r.mu.Unlock()
		if len(argv) == 0 {
			// Waits for an image update (update pokes c.restart).
			c.r.log.Warn("no local command for the image; the container will not start", "container", c.name, "image", spec.Image)
			c.set(func() { c.state, c.ready, c.started = corev1.ContainerState{}, false, false })
			if !c.sleep(24 * time.Hour) {
				return
			}
			continue
		}
		proc, err := c.start(pod, spec, argv, logFile)
		if err != nil {
			c.r.log.Warn("starting the container", "container", c.name, "err", err)
			c.set(func() { c.state = waiting("RunContainerError", err.Error()) })
			if !c.sleep(backoff.next()) {
				return
			}
			continue
		}
		startedAt := metav1.Now()
		c.set(func() {
			c.pid = proc.cmd.Process.Pid
			c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: startedAt}}
			c.started, c.ready = spec.StartupProbe == nil, false
		})
		c.r.log.Info("container started", "container", c.name, "pid", proc.cmd.Process.Pid, "argv", proc.cmd.Args)

		probeCtx, stopProbes := context.WithCancel(c.r.ctx)
		probesDone := make(chan struct{})
		go func() { defer close(probesDone); c.probe(probeCtx, proc, spec) }()

		restartNow := false
		select {
		case <-proc.exited:
		case <-c.r.ctx.Done():
			proc.stop(c.r.graceperiod())
		case <-c.restart:
			restartNow = true
			proc.stop(c.r.graceperiod())
		}
		stopProbes()
		<-probesDone

		term := proc.termination(startedAt)
		fmt.Fprintf(logFile, "--- devnode: %s exited: %s (%s)\n", c.name, term.Reason, exitDescription(term))
		ran := time.Since(startedAt.Time)
		if c.r.ctx.Err() != nil {
			c.set(func() { c.state, c.ready, c.started = corev1.ContainerState{Terminated: term}, false, false })
			return
		}
		policy := pod.Spec.RestartPolicy
		if !restartNow && (policy == corev1.RestartPolicyNever || (policy == corev1.RestartPolicyOnFailure && term.ExitCode == 0)) {
			c.r.log.Info("container exited; not restarting", "container", c.name, "exitCode", term.ExitCode)
			c.set(func() { c.state, c.ready = corev1.ContainerState{Terminated: term}, false })
			return
		}
		if ran > 2*time.Minute {
			backoff = newBackoff()
		}
		wait := backoff.next()
		if restartNow {
			wait = 0
		}
		c.r.log.Warn("container exited; restarting", "container", c.name, "exitCode", term.ExitCode, "after", wait)
		c.set(func() {
			c.last = corev1.ContainerState{Terminated: term}
			c.restarts++
			c.ready, c.started = false, false
			c.state = waiting("CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", wait, c.name, c.r.name))
		})
		if !c.sleep(wait) {
			return
		}
	}
}

func (c *container) sleep(d time.Duration) bool {
	select {
	case <-c.r.ctx.Done():
		return false
	case <-c.restart:
		return true
	case <-time.After(d):
		return true
	}
}

func waiting(reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
}

// start runs the process with the container's environment.
func (c *container) start(pod *corev1.Pod, spec corev1.Container, argv []string, logFile io.Writer) (*process, error) {
	mounts := c.mounts(spec)
	env := c.environ(pod, spec, mounts)
	args := append(argv[1:], rewriteAll(spec.Args, mounts)...)
	if len(spec.Command) > 0 {
		c.r.log.Warn("the container's command is ignored; the image's local command runs instead", "container", spec.Name)
	}
	cmd := exec.Command(argv[0], args...)
	cmd.Env = env
	cmd.Dir = c.r.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	fmt.Fprintf(logFile, "--- devnode: %s starting %s at %s\n", spec.Name, strings.Join(cmd.Args, " "), time.Now().Format(time.RFC3339))
	return startProcess(cmd)
}

// mount is a volume mount translated to the pod's state directory.
type mount struct{ container, local string }

func (c *container) mounts(spec corev1.Container) []mount {
	var out []mount
	for _, m := range spec.VolumeMounts {
		local := filepath.Join(c.r.dir, m.Name, m.SubPath)
		out = append(out, mount{container: path.Clean(m.MountPath), local: local})
	}
	// Longest first, so a nested mount wins over its parent.
	sort.Slice(out, func(i, j int) bool { return len(out[i].container) > len(out[j].container) })
	return out
}

// rewrite maps a path inside the container to its local copy.
func rewrite(v string, mounts []mount) string {
	for _, m := range mounts {
		if v == m.container {
			return m.local
		}
		if strings.HasPrefix(v, m.container+"/") || (m.container == "/" && strings.HasPrefix(v, "/")) {
			return filepath.Join(m.local, strings.TrimPrefix(v, m.container))
		}
	}
	return v
}

func rewriteAll(vs []string, mounts []mount) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = rewrite(v, mounts)
	}
	return out
}

// environ is the process's environment. It does not inherit the dev
// process's own (no KUBECONFIG or VAULT_TOKEN leaks into a tenant), apart
// from PATH so that commands can be found.
func (c *container) environ(pod *corev1.Pod, spec corev1.Container, mounts []mount) []string {
	env := newEnvList()
	env.set("PATH", os.Getenv("PATH"))
	env.set("HOME", filepath.Join(c.r.dir, ".home", spec.Name))
	env.set("HOSTNAME", pod.Name)
	if len(spec.EnvFrom) > 0 {
		c.r.log.Warn("envFrom is not supported; ignored", "container", spec.Name)
	}
	for _, e := range spec.Env {
		v, ok := c.envValue(pod, e)
		if ok {
			env.set(e.Name, rewrite(v, mounts))
		}
	}
	for _, k := range sortedKeys(c.r.p.opts.ExtraEnv) {
		env.set(k, c.r.p.opts.ExtraEnv[k])
	}
	// portMap only ever holds the port moved from the listen address.
	for _, p := range c.portMap {
		env.set(listenAddrEnv, fmt.Sprintf("%s:%d", loopback, p))
	}
	tmp := filepath.Join(c.r.dir, ".tmp", spec.Name)
	for _, m := range mounts {
		if m.container == "/tmp" {
			tmp = m.local
		}
	}
	_ = os.MkdirAll(tmp, 0o700)
	_ = os.MkdirAll(filepath.Join(c.r.dir, ".home", spec.Name), 0o700)
	env.set("TMPDIR", tmp)
	return env.list()
}

func (c *container) envValue(pod *corev1.Pod, e corev1.EnvVar) (string, bool) {
	if e.ValueFrom == nil {
		return e.Value, true
	}
	if f := e.ValueFrom.FieldRef; f != nil {
		switch f.FieldPath {
		case "metadata.name":
			return pod.Name, true
		case "metadata.namespace":
			return pod.Namespace, true
		case "metadata.uid":
			return string(pod.UID), true
		case "spec.nodeName":
			return pod.Spec.NodeName, true
		case "spec.serviceAccountName":
			return pod.Spec.ServiceAccountName, true
		case "status.podIP", "status.podIPs", "status.hostIP", "status.hostIPs":
			return loopback, true
		}
	}
	c.r.log.Warn("env valueFrom not supported; the variable is not set", "container", c.name, "env", e.Name)
	return "", false
}

type envList struct {
	order []string
	vals  map[string]string
}

func newEnvList() *envList { return &envList{vals: map[string]string{}} }

func (e *envList) set(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.order = append(e.order, k)
	}
	e.vals[k] = v
}

func (e *envList) list() []string {
	out := make([]string, 0, len(e.order))
	for _, k := range e.order {
		out = append(out, k+"="+e.vals[k])
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// process is a running child in its own process group.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	// set when exited is closed
	state    *os.ProcessState
	finished time.Time
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	// Setpgid lets stop reach the command's own children; Pdeathsig ends the
	// command if the dev process dies without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.state, p.finished = cmd.ProcessState, time.Now()
		close(p.exited)
	}()
	return p, nil
}

// stop sends SIGTERM to the process group, and SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	// Whatever the command left behind in its group goes with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

func (p *process) termination(startedAt metav1.Time) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		StartedAt:   startedAt,
		FinishedAt:  metav1.NewTime(p.finished),
		ContainerID: fmt.Sprintf("devnode://%d", p.cmd.Process.Pid),
		Reason:      "Error",
	}
	if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Signal = int32(ws.Signal())
		t.ExitCode = 128 + int32(ws.Signal())
	} else {
		t.ExitCode = int32(p.state.ExitCode())
	}
	if t.ExitCode == 0 {
		t.Reason = "Completed"
	}
	return t
}

func exitDescription(t *corev1.ContainerStateTerminated) string {
	if t.Signal != 0 {
		return "signal " + syscall.Signal(t.Signal).String()
	}
	return "exit code " + strconv.Itoa(int(t.ExitCode))
}

// backoff doubles from 1 s to 30 s: quicker than the kubelet's 10 s to
// 5 min, since a developer is waiting for the fix they just built.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{} }

func (b *backoff) next() time.Duration {
	switch {
	case b.d == 0:
		b.d = time.Second
	case b.d < 30*time.Second:
		b.d *= 2
		if b.d > 30*time.Second {
			b.d = 30 * time.Second
		}
	}
	return b.d
}
