package specs

import (
	"net"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/config"
)

// Namespace is the tenant's namespace, held to the Pod Security "restricted" level.
func Namespace(ws *tenancyv1.Workspace) *corev1.Namespace {
	l := Labels(ws)
	for _, mode := range []string{"enforce", "audit", "warn"} {
		l["pod-security.kubernetes.io/"+mode] = "restricted"
		l["pod-security.kubernetes.io/"+mode+"-version"] = "latest"
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ws.NamespaceName(), Labels: l}}
}

// ResourceQuota caps what the tenant's namespace may use, by plan.
func ResourceQuota(ws *tenancyv1.Workspace) *corev1.ResourceQuota {
	s := SizeOf(ws.EffectivePlan())
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: QuotaName, Namespace: ws.NamespaceName(), Labels: Labels(ws)},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceRequestsCPU:            resource.MustParse(s.QuotaCPURequests),
			corev1.ResourceLimitsCPU:              resource.MustParse(s.QuotaCPULimits),
			corev1.ResourceRequestsMemory:         resource.MustParse(s.QuotaMemoryRequests),
			corev1.ResourceLimitsMemory:           resource.MustParse(s.QuotaMemoryLimits),
			corev1.ResourcePods:                   resource.MustParse(s.QuotaPods),
			corev1.ResourceServices:               resource.MustParse(s.QuotaServices),
			corev1.ResourcePersistentVolumeClaims: resource.MustParse(s.QuotaPVCs),
			corev1.ResourceRequestsStorage:        resource.MustParse(s.QuotaStorage),
			"services.loadbalancers":              resource.MustParse("0"),
			"services.nodeports":                  resource.MustParse("0"),
		}},
	}
}

// LimitRange gives containers without resources the plan's runtime size, and
// caps any container at the plan's limits.
func LimitRange(ws *tenancyv1.Workspace) *corev1.LimitRange {
	s := SizeOf(ws.EffectivePlan())
	return &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: LimitRangeName, Namespace: ws.NamespaceName(), Labels: Labels(ws)},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer,
			Default: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(s.CPULimit),
				corev1.ResourceMemory: resource.MustParse(s.MemoryLimit),
			},
			DefaultRequest: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(s.CPURequest),
				corev1.ResourceMemory: resource.MustParse(s.MemoryRequest),
			},
			Max: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(s.QuotaCPULimits),
				corev1.ResourceMemory: resource.MustParse(s.QuotaMemoryLimits),
			},
		}}},
	}
}

// DefaultDenyNetworkPolicy denies all traffic in and out of every pod of the namespace.
func DefaultDenyNetworkPolicy(ws *tenancyv1.Workspace) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultDenyPolicy, Namespace: ws.NamespaceName(), Labels: Labels(ws)},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
}

// metadataAddresses are the cloud instance-metadata endpoints, which hand
// out the node's credentials: no tenant egress rule ever reaches them.
var metadataAddresses = []string{"169.254.169.254/32", "fd00:ec2::254/128"}

// egressPeers turns a configured destination into NetworkPolicy peers. An IP
// block that holds a metadata address gets it as an exception.
func egressPeers(e config.Egress) []networkingv1.NetworkPolicyPeer {
	var peers []networkingv1.NetworkPolicyPeer
	for _, c := range e.CIDRs {
		_, block, err := net.ParseCIDR(c)
		if err != nil {
			continue // config.Load refuses these
		}
		ipb := &networkingv1.IPBlock{CIDR: block.String()}
		for _, m := range metadataAddresses {
			ip, mnet, _ := net.ParseCIDR(m)
			if block.Contains(ip) {
				if ones, _ := block.Mask.Size(); ones == 32 || ones == 128 {
					ipb = nil // the block is the metadata address itself
					break
				}
				ipb.Except = append(ipb.Except, mnet.String())
			}
		}
		if ipb != nil {
			peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: ipb})
		}
	}
	if e.Namespace != "" {
		peer := networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{"kubernetes.io/metadata.name": e.Namespace}}}
		if len(e.PodLabels) > 0 {
			peer.PodSelector = &metav1.LabelSelector{MatchLabels: e.PodLabels}
		}
		peers = append(peers, peer)
	}
	return peers
}

// RuntimeNetworkPolicy lets the runtime be reached by the ingress controller,
// and reach DNS, its own database server, Vault and the channel providers
// (public HTTPS, IMAP and SMTP submission), and nothing else: not other
// tenants, not the API server, not the metadata endpoint.
func RuntimeNetworkPolicy(ws *tenancyv1.Workspace, s Settings) *networkingv1.NetworkPolicy {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := func(p corev1.Protocol, n int32) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Protocol: ptr.To(p), Port: ptr.To(intstr.FromInt32(n))}
	}
	public := networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{
		CIDR:   "0.0.0.0/0",
		Except: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8"},
	}}
	egress := []networkingv1.NetworkPolicyEgressRule{
		{ // DNS
			To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}}}},
			Ports: []networkingv1.NetworkPolicyPort{port(udp, 53), port(tcp, 53)},
		},
		{ // channel providers: HTTPS APIs, IMAPS, SMTP submission
			To:    []networkingv1.NetworkPolicyPeer{public},
			Ports: []networkingv1.NetworkPolicyPort{port(tcp, 443), port(tcp, 993), port(tcp, 465), port(tcp, 587)},
		},
	}
	// Vault, and the tenant's own database server. A destination with no
	// peers gets no rule: a rule with ports and no peers would allow every address.
	for _, e := range []config.Egress{s.VaultEgress, s.DatabaseEgress[ws.Spec.DatabaseServer]} {
		if peers := egressPeers(e); len(peers) > 0 && e.Port > 0 {
			egress = append(egress, networkingv1.NetworkPolicyEgressRule{To: peers, Ports: []networkingv1.NetworkPolicyPort{port(tcp, e.Port)}})
		}
	}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: RuntimePolicy, Namespace: ws.NamespaceName(), Labels: Labels(ws)},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: RuntimeSelector(ws)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
					MatchLabels: map[string]string{"kubernetes.io/metadata.name": s.IngressNamespace}}}},
				Ports: []networkingv1.NetworkPolicyPort{port(tcp, RuntimePort)},
			}},
			Egress: egress,
		},
	}
}

// ServiceAccount is the runtime's identity, which Vault's Kubernetes auth trusts.
func ServiceAccount(ws *tenancyv1.Workspace) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		ObjectMeta:                   metav1.ObjectMeta{Name: ServiceAccountName, Namespace: ws.NamespaceName(), Labels: Labels(ws)},
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// InitialOwner is the Secret initial-owner, holding the first owner's
// one-time password; it is shown once and never recreated.
func InitialOwner(ws *tenancyv1.Workspace, password string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: InitialOwnerSecret, Namespace: ws.NamespaceName(), Labels: Labels(ws),
			Annotations: map[string]string{"tenancy.switchboard.dev/note": "One-time password of the first owner. Read it, log in, change it, then delete this Secret; it is not recreated."}},
		Type: corev1.SecretTypeOpaque,
		StringData: map[string]string{
			"email":    ws.Spec.Owner.Email,
			"password": password,
		},
	}
}
