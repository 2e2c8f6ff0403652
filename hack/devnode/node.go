package devnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	vknode "github.com/virtual-kubelet/virtual-kubelet/node"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
)

// DefaultNodeName is the Node's name when Options.NodeName is empty.
const DefaultNodeName = "switchboard-dev"

// Options configure the dev node.
type Options struct {
	// NodeName is the Node's name; DefaultNodeName if empty.
	NodeName string
	// Images maps a container image to the local command (argv) that stands
	// in for it; the container's args are appended. Containers with other
	// images never start.
	Images map[string][]string
	// StateDir holds one directory per pod (<ns>/<pod>) with its tokens and
	// emptyDirs; it is removed with the pod. If empty, a temporary directory
	// is used and removed by Stop.
	StateDir string
	// ExtraEnv is added to every process. It overrides the pod's env, but not
	// what the node itself rewrites (listen address, volume paths, TMPDIR).
	ExtraEnv map[string]string
	// LogDir receives <ns>_<pod>_<container>.log per container and, unless
	// Logger is set, devnode.log. Defaults to StateDir/logs.
	LogDir string
	// Logger receives the node's own log. Defaults to LogDir/devnode.log.
	Logger *slog.Logger
	// Capacity is the Node's capacity and allocatable. The default is large
	// on purpose: nothing is enforced, and the scheduler should never be the
	// reason a dev pod stays Pending.
	Capacity corev1.ResourceList
}

// Node is a running dev node.
type Node struct {
	name     string
	client   kubernetes.Interface
	log      *slog.Logger
	provider *provider

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// Start registers the node and runs the pods bound to it until ctx ends or
// Stop is called. It returns once the Node is registered and the pod
// controller has synced.
func Start(ctx context.Context, restConfig *rest.Config, opts Options) (*Node, error) {
	if opts.NodeName == "" {
		opts.NodeName = DefaultNodeName
	}
	var cleanup []func()
	undo := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	if opts.StateDir == "" {
		dir, err := os.MkdirTemp("", "devnode-")
		if err != nil {
			return nil, err
		}
		opts.StateDir = dir
		cleanup = append(cleanup, func() { os.RemoveAll(dir) })
	}
	if opts.LogDir == "" {
		opts.LogDir = filepath.Join(opts.StateDir, "logs")
	}
	for _, d := range []string{opts.StateDir, opts.LogDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			undo()
			return nil, err
		}
	}
	logger := opts.Logger
	if logger == nil {
		f, err := os.OpenFile(filepath.Join(opts.LogDir, "devnode.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			undo()
			return nil, err
		}
		cleanup = append(cleanup, func() { f.Close() })
		logger = slog.New(slog.NewTextHandler(f, nil))
	}
	logger = logger.With("node", opts.NodeName)

	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		undo()
		return nil, err
	}

	runCtx, cancel := context.WithCancel(ctx)
	runCtx = vklog.WithLogger(runCtx, vkLogger{logger})
	n := &Node{
		name:   opts.NodeName,
		client: client,
		log:    logger,
		ctx:    runCtx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	n.provider = newProvider(runCtx, client, opts, logger)

	var background sync.WaitGroup
	fail := func(err error) (*Node, error) {
		cancel()
		background.Wait()
		n.provider.stopAll()
		undo()
		return nil, err
	}

	nodeObj := nodeObject(opts)
	nodes := client.CoreV1().Nodes()
	nc, err := vknode.NewNodeController(vknode.NaiveNodeProvider{}, nodeObj, nodes,
		vknode.WithNodeEnableLeaseV1(client.CoordinationV1().Leases(corev1.NamespaceNodeLease), 40),
		// Someone deleting the Node (kubectl delete node) should not orphan
		// the running pods: register it again.
		vknode.WithNodeStatusUpdateErrorHandler(func(ctx context.Context, err error) error {
			if !apierrors.IsNotFound(err) {
				return err
			}
			logger.Warn("the Node was deleted; registering it again")
			_, err = nodes.Create(ctx, nodeObject(opts), metav1.CreateOptions{})
			return err
		}),
	)
	if err != nil {
		return fail(err)
	}

	// Only this node's pods: the field selector keeps the cache small and is
	// exactly what the kubelet watches.
	podFactory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", opts.NodeName).String()
		}))
	// The node resolves env itself (SkipDownwardAPIResolution), so these
	// informers only satisfy NewPodController and are never started:
	// starting them would cache every Secret in the cluster.
	unused := informers.NewSharedInformerFactory(client, 0)

	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	cleanup = append(cleanup, broadcaster.Shutdown)
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "devnode", Host: opts.NodeName})

	pc, err := vknode.NewPodController(vknode.PodControllerConfig{
		PodClient:                 client.CoreV1(),
		PodInformer:               podFactory.Core().V1().Pods(),
		EventRecorder:             recorder,
		Provider:                  n.provider,
		ConfigMapInformer:         unused.Core().V1().ConfigMaps(),
		SecretInformer:            unused.Core().V1().Secrets(),
		ServiceInformer:           unused.Core().V1().Services(),
		SkipDownwardAPIResolution: true,
	})
	if err != nil {
		return fail(err)
	}

	background.Go(func() {
		if err := nc.Run(runCtx); err != nil && runCtx.Err() == nil {
			logger.Error("node controller stopped", "err", err)
		}
	})
	select {
	case <-nc.Ready():
	case <-nc.Done():
		return fail(fmt.Errorf("devnode: registering node %s: %w", opts.NodeName, nc.Err()))
	case <-runCtx.Done():
		return fail(runCtx.Err())
	}

	background.Go(func() { n.keepSchedulable(runCtx) })

	podFactory.Start(runCtx.Done())
	background.Go(func() {
		if err := pc.Run(runCtx, 4); err != nil && runCtx.Err() == nil {
			logger.Error("pod controller stopped", "err", err)
		}
	})
	select {
	case <-pc.Ready():
	case <-pc.Done():
		return fail(fmt.Errorf("devnode: starting the pod controller: %w", pc.Err()))
	case <-runCtx.Done():
		return fail(runCtx.Err())
	}
	logger.Info("dev node is up", "stateDir", opts.StateDir, "logDir", opts.LogDir)

	go func() {
		<-runCtx.Done()
		background.Wait()
		podFactory.Shutdown()
		n.provider.stopAll()
		undo()
		close(n.done)
	}()
	return n, nil
}

// Name is the Node's name.
func (n *Node) Name() string { return n.name }

// Stop ends every process (SIGTERM, then SIGKILL after the pod's grace
// period, at most 10 s) and removes the pods' state. The Node object and the
// pods' status are left as they are, as when a kubelet stops.
func (n *Node) Stop() {
	n.cancel()
	<-n.done
}

// Done is closed once the node has stopped and its processes have ended.
func (n *Node) Done() <-chan struct{} { return n.done }

func nodeObject(opts Options) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("64"),
		corev1.ResourceMemory:           resource.MustParse("256Gi"),
		corev1.ResourcePods:             resource.MustParse("256"),
		corev1.ResourceEphemeralStorage: resource.MustParse("1Ti"),
	}
	for k, v := range opts.Capacity {
		capacity[k] = v
	}
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: opts.NodeName,
			Labels: map[string]string{
				corev1.LabelHostname:               opts.NodeName,
				corev1.LabelOSStable:               "linux",
				corev1.LabelArchStable:             runtime.GOARCH,
				"node.kubernetes.io/instance-type": "devnode",
				"switchboard.dev/devnode":          "true",
			},
		},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Phase:       corev1.NodeRunning,
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "devnode runs pods as local processes"),
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", ""),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", ""),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", ""),
				cond(corev1.NodeNetworkUnavailable, corev1.ConditionFalse, "RouteCreated", ""),
			},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: loopback},
				{Type: corev1.NodeHostName, Address: opts.NodeName},
			},
			NodeInfo: corev1.NodeSystemInfo{
				OperatingSystem:         "linux",
				Architecture:            runtime.GOARCH,
				KubeletVersion:          "devnode",
				ContainerRuntimeVersion: "devnode://process",
			},
		},
	}
}

// Taints that the TaintNodesByCondition admission plugin puts on a new Node
// and that the node lifecycle controller removes once the Node is Ready. That
// controller does not run in `make dev`, so the node removes them itself.
var conditionTaints = map[string]bool{
	corev1.TaintNodeNotReady:    true,
	corev1.TaintNodeUnreachable: true,
}

// keepSchedulable watches the Node and removes the condition taints whenever
// they appear (at registration, and again if the Node is ever recreated).
func (n *Node) keepSchedulable(ctx context.Context) {
	nodes := n.client.CoreV1().Nodes()
	lw := cache.NewListWatchFromClient(n.client.CoreV1().RESTClient(), "nodes", "", fields.OneTermEqualSelector("metadata.name", n.name))
	_, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.Node{},
		// A periodic resync retries a removal that failed.
		ResyncPeriod: 30 * time.Second,
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { n.untaint(ctx, nodes, obj) },
			UpdateFunc: func(_, obj any) { n.untaint(ctx, nodes, obj) },
		},
	})
	ctrl.RunWithContext(ctx)
}

func (n *Node) untaint(ctx context.Context, nodes typedcorev1.NodeInterface, obj any) {
	if node, ok := obj.(*corev1.Node); !ok || !hasConditionTaint(node) {
		return
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := nodes.Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !hasConditionTaint(node) {
			return nil
		}
		var keep []corev1.Taint
		for _, t := range node.Spec.Taints {
			if !conditionTaints[t.Key] {
				keep = append(keep, t)
			}
		}
		node.Spec.Taints = keep
		_, err = nodes.Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil && ctx.Err() == nil {
		n.log.Warn("removing the not-ready taint", "err", err)
	} else if err == nil {
		n.log.Info("removed the not-ready taint")
	}
}

func hasConditionTaint(node *corev1.Node) bool {
	for _, t := range node.Spec.Taints {
		if conditionTaints[t.Key] {
			return true
		}
	}
	return false
}

// vkLogger sends virtual-kubelet's log to slog. (The library's own slog
// adapter panics when it is given an error instead of a string.)
type vkLogger struct{ l *slog.Logger }

func (v vkLogger) Debug(a ...any)                           { v.l.Debug(fmt.Sprint(a...)) }
func (v vkLogger) Debugf(f string, a ...any)                { v.l.Debug(fmt.Sprintf(f, a...)) }
func (v vkLogger) Info(a ...any)                            { v.l.Info(fmt.Sprint(a...)) }
func (v vkLogger) Infof(f string, a ...any)                 { v.l.Info(fmt.Sprintf(f, a...)) }
func (v vkLogger) Warn(a ...any)                            { v.l.Warn(fmt.Sprint(a...)) }
func (v vkLogger) Warnf(f string, a ...any)                 { v.l.Warn(fmt.Sprintf(f, a...)) }
func (v vkLogger) Error(a ...any)                           { v.l.Error(fmt.Sprint(a...)) }
func (v vkLogger) Errorf(f string, a ...any)                { v.l.Error(fmt.Sprintf(f, a...)) }
func (v vkLogger) Fatal(a ...any)                           { v.l.Error(fmt.Sprint(a...)) }
func (v vkLogger) Fatalf(f string, a ...any)                { v.l.Error(fmt.Sprintf(f, a...)) }
func (v vkLogger) WithField(k string, val any) vklog.Logger { return vkLogger{v.l.With(k, val)} }
func (v vkLogger) WithError(err error) vklog.Logger {
	// Error() rather than the error itself: slog formats values with %+v,
	// which prints a stack trace for the library's pkg/errors values.
	if err == nil {
		return v
	}
	return vkLogger{v.l.With("err", err.Error())}
}
func (v vkLogger) WithFields(f vklog.Fields) vklog.Logger {
	l := v.l
	for k, val := range f {
		l = l.With(k, val)
	}
	return vkLogger{l}
}

var errStopped = errors.New("devnode: the node is stopping")
