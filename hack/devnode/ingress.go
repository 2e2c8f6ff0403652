package devnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
)

// IngressProxy is a development ingress controller: it routes a request by
// its Host header through the cluster's Ingresses and Services to a Ready pod
// running on the dev node. It ignores ingressClassName, TLS and annotations.
type IngressProxy struct {
	node      *Node
	ingresses networkinglisters.IngressLister
	services  corelisters.ServiceLister
	synced    []cache.InformerSynced
	next      atomic.Uint64
}

// NewIngressProxy watches Ingresses and Services for as long as node runs.
func NewIngressProxy(client kubernetes.Interface, node *Node) *IngressProxy {
	f := informers.NewSharedInformerFactory(client, 0)
	ing := f.Networking().V1().Ingresses()
	svc := f.Core().V1().Services()
	p := &IngressProxy{
		node:      node,
		ingresses: ing.Lister(),
		services:  svc.Lister(),
		synced:    []cache.InformerSynced{ing.Informer().HasSynced, svc.Informer().HasSynced},
	}
	f.Start(node.ctx.Done())
	return p
}

// Serve listens on addr (host:port; port 0 picks one) and serves the proxy
// until ctx ends. It returns the address it listens on.
func (p *IngressProxy) Serve(ctx context.Context, addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.node.log.Error("ingress proxy stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		// Event streams never finish by themselves: give requests a moment,
		// then cut them.
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
	return ln.Addr(), nil
}

func (p *IngressProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !cache.WaitForCacheSync(r.Context().Done(), p.synced...) {
		http.Error(w, "devnode ingress: not synced yet", http.StatusServiceUnavailable)
		return
	}
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")

	ings, err := p.ingresses.List(labels.Everything())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ns, backend, ok := route(ings, host, r.URL.Path)
	if !ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "devnode ingress: no Ingress rule for host %q.\n\nKnown hosts:\n", host)
		for _, h := range knownHosts(ings) {
			fmt.Fprintf(w, "  %s\n", h)
		}
		return
	}
	noRuntime := func(detail string) {
		p.node.log.Info("no ready backend", "host", host, "detail", detail)
		http.Error(w, fmt.Sprintf("workspace %s has no ready runtime", host), http.StatusServiceUnavailable)
	}
	svc, err := p.services.Services(ns).Get(backend.Name)
	if err != nil {
		noRuntime(fmt.Sprintf("service %s/%s: %v", ns, backend.Name, err))
		return
	}
	target, ok := targetPort(svc, backend.Port)
	if !ok || len(svc.Spec.Selector) == 0 {
		noRuntime(fmt.Sprintf("service %s/%s has no such port or no selector", ns, svc.Name))
		return
	}
	addrs := p.node.provider.readyEndpoints(ns, labels.SelectorFromSet(svc.Spec.Selector), target)
	if len(addrs) == 0 {
		noRuntime(fmt.Sprintf("no ready pod of service %s/%s on this node", ns, svc.Name))
		return
	}
	addr := addrs[int(p.next.Add(1)-1)%len(addrs)]
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: addr})
			pr.Out.Host = pr.In.Host // the runtime may care which host it is serving
			pr.SetXForwarded()
		},
		// Server-Sent Events and other streams must reach the browser as
		// they are written, not when a buffer fills.
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.node.log.Warn("proxying", "host", host, "backend", addr, "err", err)
			http.Error(w, fmt.Sprintf("workspace %s: runtime at %s did not answer: %v", host, addr, err), http.StatusBadGateway)
		},
	}
	proxy.ServeHTTP(w, r)
}

// route finds the backend for host and path the way ingress controllers do:
// an exact host beats a wildcard, which beats a rule without host; then the
// longest matching path wins, Exact before Prefix.
func route(ings []*networkingv1.Ingress, host, reqPath string) (string, *networkingv1.IngressServiceBackend, bool) {
	sort.Slice(ings, func(i, j int) bool {
		if ings[i].Namespace != ings[j].Namespace {
			return ings[i].Namespace < ings[j].Namespace
		}
		return ings[i].Name < ings[j].Name
	})
	if reqPath == "" {
		reqPath = "/"
	}
	bestHost := -1
	for _, ing := range ings {
		for _, rule := range ing.Spec.Rules {
			bestHost = max(bestHost, hostScore(rule.Host, host))
		}
	}
	bestPath := -1
	var ns string
	var best *networkingv1.IngressServiceBackend
	for _, ing := range ings {
		for _, rule := range ing.Spec.Rules {
			if bestHost < 0 || hostScore(rule.Host, host) != bestHost {
				continue
			}
			var paths []networkingv1.HTTPIngressPath
			if rule.HTTP != nil {
				paths = rule.HTTP.Paths
			}
			for _, hp := range paths {
				if ps := pathScore(hp, reqPath); ps > bestPath && hp.Backend.Service != nil {
					bestPath, ns, best = ps, ing.Namespace, hp.Backend.Service
				}
			}
		}
	}
	if best == nil {
		// No rule (or no path) matched: an Ingress's default backend, if any.
		for _, ing := range ings {
			if d := ing.Spec.DefaultBackend; d != nil && d.Service != nil {
				return ing.Namespace, d.Service, true
			}
		}
	}
	return ns, best, best != nil
}

func hostScore(ruleHost, host string) int {
	ruleHost = strings.ToLower(ruleHost)
	switch {
	case ruleHost == "":
		return 0
	case ruleHost == host:
		return 2
	case strings.HasPrefix(ruleHost, "*."):
		// A wildcard covers exactly one label.
		suffix := ruleHost[1:]
		if strings.HasSuffix(host, suffix) && !strings.Contains(strings.TrimSuffix(host, suffix), ".") && len(host) > len(suffix) {
			return 1
		}
	}
	return -1
}

// pathScore is how well hp matches reqPath: -1 not at all, else twice the
// path's length, plus one for Exact.
func pathScore(hp networkingv1.HTTPIngressPath, reqPath string) int {
	p := hp.Path
	if p == "" {
		p = "/"
	}
	if hp.PathType != nil && *hp.PathType == networkingv1.PathTypeExact {
		if reqPath == p {
			return 2*len(p) + 1
		}
		return -1
	}
	trimmed := strings.TrimSuffix(p, "/")
	if trimmed == "" || reqPath == trimmed || strings.HasPrefix(reqPath, trimmed+"/") {
		return 2 * len(trimmed)
	}
	return -1
}

func knownHosts(ings []*networkingv1.Ingress) []string {
	seen := map[string]bool{}
	var out []string
	for _, ing := range ings {
		for _, rule := range ing.Spec.Rules {
			if rule.Host != "" && !seen[rule.Host] {
				seen[rule.Host] = true
				out = append(out, rule.Host)
			}
		}
	}
	sort.Strings(out)
	return out
}

// targetPort is the pod port behind the Service port an Ingress names.
func targetPort(svc *corev1.Service, port networkingv1.ServiceBackendPort) (intstr.IntOrString, bool) {
	for _, sp := range svc.Spec.Ports {
		if (port.Name != "" && sp.Name == port.Name) || (port.Name == "" && sp.Port == port.Number) {
			if sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "" {
				return sp.TargetPort, true
			}
			if sp.TargetPort.IntVal != 0 {
				return sp.TargetPort, true
			}
			return intstr.FromInt32(sp.Port), true
		}
	}
	return intstr.IntOrString{}, false
}
