package devnode

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

const (
	loopback = "127.0.0.1"
	// shutdownGrace caps the grace period when the node itself stops, so
	// that Ctrl-C on `make dev` is quick.
	shutdownGrace = 10 * time.Second
)

// provider implements virtual-kubelet's PodLifecycleHandler and PodNotifier.
// Every call returns quickly: starting and stopping processes happens in each
// pod's own goroutine, which reports progress through NotifyPods.
type provider struct {
	ctx    context.Context
	client kubernetes.Interface
	opts   Options
	log    *slog.Logger

	mu       sync.Mutex
	pods     map[string]*podRun // by namespace/name
	notifyFn func(*corev1.Pod)
	stopping bool
	wg       sync.WaitGroup
}

func newProvider(ctx context.Context, client kubernetes.Interface, opts Options, log *slog.Logger) *provider {
	return &provider{ctx: ctx, client: client, opts: opts, log: log, pods: map[string]*podRun{}}
}

func podKey(namespace, name string) string { return namespace + "/" + name }

func (p *provider) NotifyPods(_ context.Context, fn func(*corev1.Pod)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notifyFn = fn
}

func (p *provider) send(pod *corev1.Pod) {
	p.mu.Lock()
	fn := p.notifyFn
	p.mu.Unlock()
	if fn != nil {
		fn(pod)
	}
}

func (p *provider) CreatePod(_ context.Context, pod *corev1.Pod) error {
	key := podKey(pod.Namespace, pod.Name)
	p.mu.Lock()
	old := p.pods[key]
	p.mu.Unlock()
	if old != nil {
		if old.uid == pod.UID {
			old.update(pod)
			return nil
		}
		// A new pod with the name of one still stopping (a StatefulSet
		// replacement): it reuses the state directory, so the old one must
		// be gone first.
		old.stop(false, nil)
		<-old.done
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return errStopped
	}
	if cur := p.pods[key]; cur != nil && cur != old {
		if cur.uid == pod.UID {
			cur.update(pod)
			return nil
		}
		return fmt.Errorf("devnode: pod %s is being replaced concurrently; retrying", key)
	}
	r := newPodRun(p, pod)
	p.pods[key] = r
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		r.run()
		p.mu.Lock()
		if p.pods[key] == r {
			delete(p.pods, key)
		}
		p.mu.Unlock()
	}()
	return nil
}

func (p *provider) UpdatePod(ctx context.Context, pod *corev1.Pod) error {
	return p.CreatePod(ctx, pod)
}

func (p *provider) DeletePod(_ context.Context, pod *corev1.Pod) error {
	r := p.lookup(pod.Namespace, pod.Name)
	if r == nil || (pod.UID != "" && r.uid != pod.UID) {
		return errdefs.NotFoundf("pod %s/%s is not running on this node", pod.Namespace, pod.Name)
	}
	r.stop(pod.DeletionTimestamp != nil, pod.DeletionGracePeriodSeconds)
	return nil
}

func (p *provider) lookup(namespace, name string) *podRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pods[podKey(namespace, name)]
}

func (p *provider) GetPod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	r := p.lookup(namespace, name)
	if r == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not running on this node", namespace, name)
	}
	return r.snapshot(), nil
}

func (p *provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

func (p *provider) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	runs := make([]*podRun, 0, len(p.pods))
	for _, r := range p.pods {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	pods := make([]*corev1.Pod, 0, len(runs))
	for _, r := range runs {
		pods = append(pods, r.snapshot())
	}
	return pods, nil
}

// stopAll ends every pod without touching the API, as a stopping kubelet.
func (p *provider) stopAll() {
	p.mu.Lock()
	p.stopping = true
	runs := make([]*podRun, 0, len(p.pods))
	for _, r := range p.pods {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	for _, r := range runs {
		r.stop(false, nil)
	}
	p.wg.Wait()
}

// readyEndpoints are the loopback addresses serving port of the ready pods in
// namespace that selector selects.
func (p *provider) readyEndpoints(namespace string, selector labels.Selector, port intstr.IntOrString) []string {
	p.mu.Lock()
	runs := make([]*podRun, 0, len(p.pods))
	for _, r := range p.pods {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	var out []string
	for _, r := range runs {
		if addr, ok := r.endpoint(namespace, selector, port); ok {
			out = append(out, addr)
		}
	}
	sort.Strings(out)
	return out
}

// podRun is one pod on this node, from CreatePod until its processes have
// ended and its state directory is gone.
type podRun struct {
	p               *provider
	uid             types.UID
	namespace, name string
	dir             string
	log             *slog.Logger

	ctx    context.Context // cancelled to stop the containers
	cancel context.CancelFunc
	done   chan struct{}

	notifyMu sync.Mutex // keeps this pod's status reports in order

	mu            sync.Mutex
	pod           *corev1.Pod
	containers    []*container
	startTime     metav1.Time
	conditions    map[corev1.PodConditionType]corev1.PodCondition
	tokenDue      map[string]time.Time // token file -> when to refresh it
	stopping      bool
	stopped       bool // processes ended, state removed
	deleteFromAPI bool
	grace         *time.Duration // set by a deletion with a grace period
}

func newPodRun(p *provider, pod *corev1.Pod) *podRun {
	ctx, cancel := context.WithCancel(p.ctx)
	r := &podRun{
		p:          p,
		uid:        pod.UID,
		namespace:  pod.Namespace,
		name:       pod.Name,
		dir:        filepath.Join(p.opts.StateDir, pod.Namespace, pod.Name),
		log:        p.log.With("pod", podKey(pod.Namespace, pod.Name)),
		ctx:        ctx,
		cancel:     cancel,
		done:       make(chan struct{}),
		pod:        pod.DeepCopy(),
		startTime:  metav1.Now(),
		conditions: map[corev1.PodConditionType]corev1.PodCondition{},
		tokenDue:   map[string]time.Time{},
	}
	for i := range pod.Spec.Containers {
		r.containers = append(r.containers, newContainer(r, pod.Spec.Containers[i]))
	}
	return r
}

// update takes the API's latest view of the pod: labels matter to Services,
// and a changed image restarts that container, as the kubelet does.
func (r *podRun) update(pod *corev1.Pod) {
	r.mu.Lock()
	r.pod = pod.DeepCopy()
	var restart []*container
	for i := range pod.Spec.Containers {
		if i < len(r.containers) && r.containers[i].spec.Image != pod.Spec.Containers[i].Image {
			r.containers[i].spec = pod.Spec.Containers[i]
			r.containers[i].argv = r.p.argvFor(pod.Spec.Containers[i].Image)
			restart = append(restart, r.containers[i])
		}
	}
	r.mu.Unlock()
	for _, c := range restart {
		r.log.Info("image changed; restarting the container", "container", c.name)
		c.requestRestart()
	}
	r.notify()
}

// stop ends the pod's processes. fromAPI means the pod was deleted in the
// API, so once everything has stopped the object is removed, as the kubelet
// does after a graceful termination. graceSeconds is the deletion's grace
// period, if it has one.
func (r *podRun) stop(fromAPI bool, graceSeconds *int64) {
	r.mu.Lock()
	if fromAPI {
		r.deleteFromAPI = true
	}
	if graceSeconds != nil {
		d := time.Duration(*graceSeconds) * time.Second
		if r.grace == nil || d < *r.grace {
			r.grace = &d
		}
	}
	already := r.stopping
	r.stopping = true
	grace := r.gracePeriodLocked()
	r.mu.Unlock()
	if !already {
		r.log.Info("stopping the pod", "grace", grace)
	}
	r.cancel()
}

// graceperiod is how long a process gets between SIGTERM and SIGKILL: the
// deletion's grace period, else the pod's, capped when the node is stopping.
func (r *podRun) graceperiod() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gracePeriodLocked()
}

func (r *podRun) gracePeriodLocked() time.Duration {
	d := time.Duration(corev1.DefaultTerminationGracePeriodSeconds) * time.Second
	if s := r.pod.Spec.TerminationGracePeriodSeconds; s != nil {
		d = time.Duration(*s) * time.Second
	}
	if r.grace != nil {
		d = *r.grace
	}
	if r.p.ctx.Err() != nil && d > shutdownGrace {
		d = shutdownGrace
	}
	// The kubelet's minimum too: even a forced deletion gets a SIGTERM that
	// can be acted on.
	return max(d, 2*time.Second)
}

func (r *podRun) run() {
	defer close(r.done)
	r.log.Info("starting the pod")
	r.notify()

	var wg sync.WaitGroup
	if r.prepare() {
		for _, ts := range r.tokenSources() {
			wg.Add(1)
			go func() { defer wg.Done(); r.refreshToken(ts) }()
		}
		for _, c := range r.containers {
			wg.Add(1)
			go func() { defer wg.Done(); c.run() }()
		}
	}
	<-r.ctx.Done()
	wg.Wait()

	if err := os.RemoveAll(r.dir); err != nil {
		r.log.Warn("removing the pod's state", "err", err)
	}
	_ = os.Remove(filepath.Dir(r.dir)) // the namespace's directory, once empty
	r.mu.Lock()
	r.stopped = true
	deleteFromAPI := r.deleteFromAPI
	pod := r.pod
	r.mu.Unlock()
	r.notify()
	r.log.Info("the pod has stopped")

	if deleteFromAPI && r.p.ctx.Err() == nil {
		err := r.p.client.CoreV1().Pods(pod.Namespace).Delete(r.p.ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: new(int64),
			Preconditions:      metav1.NewUIDPreconditions(string(pod.UID)),
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			r.log.Warn("deleting the stopped pod", "err", err)
		}
	}
}

// prepare creates the pod's directories and tokens, retrying until it works
// or the pod is stopped; meanwhile the containers wait with the reason.
func (r *podRun) prepare() bool {
	backoff := newBackoff()
	for {
		err := r.prepareOnce()
		if err == nil {
			r.setWaiting("", "")
			return true
		}
		r.log.Warn("preparing the pod", "err", err)
		r.setWaiting("CreateContainerConfigError", err.Error())
		r.notify()
		select {
		case <-r.ctx.Done():
			return false
		case <-time.After(backoff.next()):
		}
	}
}

func (r *podRun) prepareOnce() error {
	r.mu.Lock()
	pod := r.pod.DeepCopy()
	r.mu.Unlock()
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return err
	}
	for _, v := range pod.Spec.Volumes {
		if err := os.MkdirAll(filepath.Join(r.dir, v.Name), 0o700); err != nil {
			return err
		}
		switch {
		case v.EmptyDir != nil:
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken == nil {
					r.log.Warn("projected volume source not supported; left empty", "volume", v.Name)
				}
			}
		default:
			r.log.Warn("volume type not supported; it is an empty directory", "volume", v.Name)
		}
	}
	for _, ts := range r.tokenSources() {
		if _, err := r.writeToken(r.ctx, ts); err != nil {
			return err
		}
	}
	if len(pod.Spec.InitContainers) > 0 {
		r.log.Warn("init containers are not supported; skipped")
	}
	return nil
}

// setWaiting sets the reason every not-yet-started container is waiting for.
func (r *podRun) setWaiting(reason, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.containers {
		c.setupReason, c.setupMessage = reason, message
	}
}

// notify reports the pod's current status to virtual-kubelet.
func (r *podRun) notify() {
	r.notifyMu.Lock()
	defer r.notifyMu.Unlock()
	r.p.send(r.snapshot())
}

func (r *podRun) snapshot() *corev1.Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	pod := r.pod.DeepCopy()
	pod.Status = r.statusLocked()
	return pod
}

// statusLocked computes the pod's status the way the kubelet does (phase
// from container states, Ready from readiness), keeping fields it does not
// own (qosClass, conditions set by others).
func (r *podRun) statusLocked() corev1.PodStatus {
	s := *r.pod.Status.DeepCopy()
	s.ObservedGeneration = r.pod.Generation
	s.HostIP, s.PodIP = loopback, loopback
	s.HostIPs = []corev1.HostIP{{IP: loopback}}
	s.PodIPs = []corev1.PodIP{{IP: loopback}}
	s.StartTime = &r.startTime
	s.Reason, s.Message = "", ""

	s.ContainerStatuses = nil
	allReady := len(r.containers) > 0
	var notReady []string
	for _, c := range r.containers {
		cs := c.statusLocked()
		s.ContainerStatuses = append(s.ContainerStatuses, cs)
		if !cs.Ready {
			allReady = false
			notReady = append(notReady, c.spec.Name)
		}
	}
	s.Phase = r.phaseLocked(s.ContainerStatuses)
	if r.stopping {
		allReady = false
	}

	podReady := allReady && s.Phase == corev1.PodRunning
	for _, g := range r.pod.Spec.ReadinessGates {
		ok := false
		for _, c := range s.Conditions {
			ok = ok || (c.Type == g.ConditionType && c.Status == corev1.ConditionTrue)
		}
		podReady = podReady && ok
	}
	msg := ""
	if len(notReady) > 0 {
		msg = "containers with unready status: [" + strings.Join(notReady, " ") + "]"
	}
	r.setCondition(&s, corev1.PodScheduled, true, "", "")
	r.setCondition(&s, corev1.PodReadyToStartContainers, !r.stopped, "", "")
	r.setCondition(&s, corev1.PodInitialized, true, "", "")
	r.setCondition(&s, corev1.ContainersReady, allReady, "ContainersNotReady", msg)
	if !podReady && allReady {
		msg = "the pod's readiness gates are not all True"
	}
	r.setCondition(&s, corev1.PodReady, podReady, "ContainersNotReady", msg)
	return s
}

func (r *podRun) setCondition(s *corev1.PodStatus, t corev1.PodConditionType, ok bool, reason, msg string) {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
		reason, msg = "", ""
	}
	prev, seen := r.conditions[t]
	if !seen {
		for _, c := range s.Conditions {
			if c.Type == t {
				prev, seen = c, true
			}
		}
	}
	c := corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: r.pod.Generation}
	if seen && prev.Status == status {
		c.LastTransitionTime = prev.LastTransitionTime
	} else {
		c.LastTransitionTime = metav1.Now()
	}
	r.conditions[t] = c
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			s.Conditions[i] = c
			return
		}
	}
	s.Conditions = append(s.Conditions, c)
}

// phaseLocked follows the kubelet's getPhase: a container that never ran
// keeps the pod Pending; one that ran and waits to restart counts as stopped.
func (r *podRun) phaseLocked(statuses []corev1.ContainerStatus) corev1.PodPhase {
	var running, waiting, stopped, succeeded int
	for _, cs := range statuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.LastTerminationState.Terminated != nil:
			stopped++
			if cs.LastTerminationState.Terminated.ExitCode == 0 {
				succeeded++
			}
		default:
			waiting++
		}
	}
	if r.stopped {
		// Every container has ended for good: report a terminal phase, as
		// the kubelet does for a deleted pod.
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		return corev1.PodFailed
	}
	policy := r.pod.Spec.RestartPolicy
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		if policy == corev1.RestartPolicyAlways || policy == "" {
			return corev1.PodRunning
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		if policy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// endpoint is this pod's loopback address for a Service's target port, if
// the pod is in namespace, selected, and Ready.
func (r *podRun) endpoint(namespace string, selector labels.Selector, port intstr.IntOrString) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pod.Namespace != namespace || r.stopping || !selector.Matches(labels.Set(r.pod.Labels)) {
		return "", false
	}
	s := r.statusLocked()
	ready := false
	for _, c := range s.Conditions {
		if c.Type == corev1.PodReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		return "", false
	}
	for _, c := range r.containers {
		if port.Type == intstr.String {
			for _, cp := range c.spec.Ports {
				if cp.Name == port.StrVal {
					return fmt.Sprintf("%s:%d", loopback, c.hostPort(cp.ContainerPort)), true
				}
			}
			continue
		}
		if _, ok := c.portMap[port.IntVal]; ok {
			return fmt.Sprintf("%s:%d", loopback, c.hostPort(port.IntVal)), true
		}
	}
	if port.Type == intstr.Int {
		// Not declared by any container: the port is used as it is, as
		// kube-proxy would.
		return fmt.Sprintf("%s:%d", loopback, port.IntVal), true
	}
	return "", false
}
