package specs

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/config"
)

func ws(name string, mod func(*tenancyv1.Workspace)) *tenancyv1.Workspace {
	w := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: tenancyv1.WorkspaceSpec{
		Owner: tenancyv1.WorkspaceOwner{Email: "o@x.example"}, DatabaseServer: "eu-1",
	}}
	if mod != nil {
		mod(w)
	}
	return w
}

var settings = Settings{
	RuntimeImage: "reg/runtime:1", BaseDomain: "inbox.example.com", URLScheme: "https",
	IngressClass: "nginx", IngressNamespace: "ingress-nginx", VaultAddress: "https://vault:8200",
	VaultAuthMount: "kubernetes", VaultKVMount: "switchboard", VaultAudience: "vault",
	VaultEgress: config.Egress{Namespace: "vault", PodLabels: map[string]string{"app": "vault"}, Port: 8200},
	DatabaseEgress: map[string]config.Egress{
		"eu-1": {CIDRs: []string{"10.20.0.5/32"}, Port: 5432},
		"us-1": {CIDRs: []string{"10.30.0.0/16"}, Port: 6432},
		"wide": {CIDRs: []string{"169.254.0.0/16", "169.254.169.254/32"}, Port: 5432},
	},
}

func TestRuntimeDeployment(t *testing.T) {
	tests := []struct {
		name        string
		ws          *tenancyv1.Workspace
		replicas    int32
		image       string
		memoryLimit string
		publicURL   string
	}{
		{"starter by default", ws("acme", nil), 1, "reg/runtime:1", "256Mi", "https://acme.inbox.example.com"},
		{"free", ws("a", func(w *tenancyv1.Workspace) { w.Spec.Plan = tenancyv1.PlanFree }), 1, "reg/runtime:1", "128Mi", "https://a.inbox.example.com"},
		{"pro", ws("b", func(w *tenancyv1.Workspace) { w.Spec.Plan = tenancyv1.PlanPro }), 2, "reg/runtime:1", "512Mi", "https://b.inbox.example.com"},
		{"enterprise", ws("c", func(w *tenancyv1.Workspace) { w.Spec.Plan = tenancyv1.PlanEnterprise }), 3, "reg/runtime:1", "1Gi", "https://c.inbox.example.com"},
		{"suspended", ws("d", func(w *tenancyv1.Workspace) { w.Spec.Plan = tenancyv1.PlanPro; w.Spec.Suspended = true }), 0, "reg/runtime:1", "512Mi", "https://d.inbox.example.com"},
		{"own host and image", ws("e", func(w *tenancyv1.Workspace) {
			w.Spec.Host = "support.e.example"
			w.Spec.RuntimeImage = "reg/runtime:canary"
		}), 1, "reg/runtime:canary", "256Mi", "https://support.e.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := RuntimeDeployment(tt.ws, settings)
			if got := *d.Spec.Replicas; got != tt.replicas {
				t.Errorf("replicas = %d, want %d", got, tt.replicas)
			}
			if d.Namespace != "ws-"+tt.ws.Name {
				t.Errorf("namespace = %s", d.Namespace)
			}
			pod := d.Spec.Template.Spec
			c := pod.Containers[0]
			if c.Image != tt.image {
				t.Errorf("image = %s, want %s", c.Image, tt.image)
			}
			if got := c.Resources.Limits.Memory().String(); got != tt.memoryLimit {
				t.Errorf("memory limit = %s, want %s", got, tt.memoryLimit)
			}
			if !*c.SecurityContext.ReadOnlyRootFilesystem || *c.SecurityContext.AllowPrivilegeEscalation || !*pod.SecurityContext.RunAsNonRoot {
				t.Error("the runtime must be non-root with a read-only root filesystem")
			}
			if *pod.AutomountServiceAccountToken {
				t.Error("the runtime must not get a Kubernetes API token")
			}
			if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
				t.Error("probes must hit /readyz and /healthz")
			}
			env := map[string]string{}
			for _, e := range c.Env {
				if e.ValueFrom != nil {
					t.Errorf("env %s comes from a reference; the env holds plain, non-secret values only", e.Name)
				}
				env[e.Name] = e.Value
			}
			if env["SWITCHBOARD_PUBLIC_URL"] != tt.publicURL || env["SWITCHBOARD_VAULT_AUTH_ROLE"] != "ws-"+tt.ws.Name ||
				env["SWITCHBOARD_VAULT_PATH"] != "workspaces/"+tt.ws.Name || env["VAULT_ADDR"] != settings.VaultAddress {
				t.Errorf("env = %v", env)
			}
			for k, v := range env {
				if strings.Contains(strings.ToLower(k), "password") || strings.Contains(v, "postgres://") {
					t.Errorf("env %s looks like a secret", k)
				}
			}
			proj := pod.Volumes[0].Projected.Sources[0].ServiceAccountToken
			if proj.Audience != "vault" || *proj.ExpirationSeconds != 3600 {
				t.Errorf("projected token = %+v", proj)
			}
			for k, v := range RuntimeSelector(tt.ws) {
				if d.Spec.Template.Labels[k] != v {
					t.Errorf("template lacks selector label %s", k)
				}
			}
		})
	}
}

func TestRuntimeDisruptionBudget(t *testing.T) {
	w := ws("acme", func(w *tenancyv1.Workspace) { w.Spec.Plan = tenancyv1.PlanEnterprise })
	pdb := RuntimeDisruptionBudget(w)
	d := RuntimeDeployment(w, settings)
	if pdb.Namespace != "ws-acme" || pdb.Name != d.Name {
		t.Errorf("pdb %s/%s", pdb.Namespace, pdb.Name)
	}
	if p := pdb.Spec.UnhealthyPodEvictionPolicy; p == nil || *p != "AlwaysAllow" {
		t.Errorf("unhealthyPodEvictionPolicy %v, want AlwaysAllow so that pods that are not ready never block a drain", p)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("want maxUnavailable 1 and no minAvailable: %+v", pdb.Spec)
	}
	if !reflect.DeepEqual(pdb.Spec.Selector, d.Spec.Selector) {
		t.Errorf("selector %v, want the Deployment's %v", pdb.Spec.Selector, d.Spec.Selector)
	}
	tsc := d.Spec.Template.Spec.TopologySpreadConstraints
	if len(tsc) != 1 || tsc[0].WhenUnsatisfiable != "ScheduleAnyway" || !reflect.DeepEqual(tsc[0].LabelSelector, d.Spec.Selector) {
		t.Errorf("topology spread: %+v", tsc)
	}
}

func TestQuotaAndLimitsFollowPlan(t *testing.T) {
	tests := []struct {
		plan       tenancyv1.Plan
		pods, mem  string
		defaultMem string
	}{
		{tenancyv1.PlanFree, "5", "512Mi", "128Mi"},
		{tenancyv1.PlanStarter, "10", "1Gi", "256Mi"},
		{tenancyv1.PlanPro, "20", "2Gi", "512Mi"},
		{tenancyv1.PlanEnterprise, "40", "8Gi", "1Gi"},
		{"", "10", "1Gi", "256Mi"},
	}
	for _, tt := range tests {
		t.Run(string(tt.plan), func(t *testing.T) {
			w := ws("acme", func(w *tenancyv1.Workspace) { w.Spec.Plan = tt.plan })
			q := ResourceQuota(w)
			if got := q.Spec.Hard.Pods().String(); got != tt.pods {
				t.Errorf("pods = %s, want %s", got, tt.pods)
			}
			if got := q.Spec.Hard[corev1.ResourceLimitsMemory]; got.String() != tt.mem {
				t.Errorf("limits.memory = %s, want %s", got.String(), tt.mem)
			}
			if got := q.Spec.Hard["services.loadbalancers"]; !got.IsZero() {
				t.Error("tenants must not get load balancers")
			}
			lr := LimitRange(w)
			if got := lr.Spec.Limits[0].Default[corev1.ResourceMemory]; got.String() != tt.defaultMem {
				t.Errorf("default memory = %s, want %s", got.String(), tt.defaultMem)
			}
		})
	}
}

func TestNamespaceIsRestricted(t *testing.T) {
	ns := Namespace(ws("acme", nil))
	for _, mode := range []string{"enforce", "audit", "warn"} {
		if ns.Labels["pod-security.kubernetes.io/"+mode] != "restricted" {
			t.Errorf("%s is not restricted", mode)
		}
	}
	if ns.Labels[tenancyv1.LabelManagedBy] != "switchboard" || ns.Labels[tenancyv1.LabelWorkspace] != "acme" || ns.Name != "ws-acme" {
		t.Errorf("labels = %v, name = %s", ns.Labels, ns.Name)
	}
}

func TestNetworkPolicies(t *testing.T) {
	w := ws("acme", nil)
	w.Spec.DatabaseServer = "eu-1"
	deny := DefaultDenyNetworkPolicy(w)
	if len(deny.Spec.Ingress) != 0 || len(deny.Spec.Egress) != 0 || len(deny.Spec.PolicyTypes) != 2 || len(deny.Spec.PodSelector.MatchLabels) != 0 {
		t.Errorf("default deny must select every pod and allow nothing: %+v", deny.Spec)
	}
	allow := RuntimeNetworkPolicy(w, settings)
	from := allow.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
	if from != "ingress-nginx" {
		t.Errorf("ingress allowed from %q", from)
	}
	if allow.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
		t.Error("policy types")
	}

	// Every egress rule names its destinations: a rule with ports and no
	// peers would let the runtime reach that port on any address.
	dest := map[int32][]string{}
	for _, rule := range allow.Spec.Egress {
		if len(rule.To) == 0 {
			t.Fatalf("egress rule without destinations: %+v", rule)
		}
		for _, p := range rule.Ports {
			for _, peer := range rule.To {
				switch {
				case peer.IPBlock != nil:
					dest[p.Port.IntVal] = append(dest[p.Port.IntVal], peer.IPBlock.CIDR+" except "+strings.Join(peer.IPBlock.Except, ","))
				case peer.PodSelector != nil:
					dest[p.Port.IntVal] = append(dest[p.Port.IntVal], "ns="+peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]+" pods="+peer.PodSelector.MatchLabels["app"])
				default:
					dest[p.Port.IntVal] = append(dest[p.Port.IntVal], "ns="+peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
				}
			}
		}
	}
	want := map[int32][]string{
		53:   {"ns=kube-system", "ns=kube-system"}, // UDP and TCP
		443:  {"0.0.0.0/0 except 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,100.64.0.0/10,127.0.0.0/8"},
		993:  {"0.0.0.0/0 except 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,100.64.0.0/10,127.0.0.0/8"},
		465:  {"0.0.0.0/0 except 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,100.64.0.0/10,127.0.0.0/8"},
		587:  {"0.0.0.0/0 except 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,100.64.0.0/10,127.0.0.0/8"},
		8200: {"ns=vault pods=vault"},
		5432: {"10.20.0.5/32 except "}, // eu-1 only, not us-1's 10.30.0.0/16
	}
	if !reflect.DeepEqual(dest, want) {
		t.Errorf("egress destinations:\n got %v\nwant %v", dest, want)
	}

	t.Run("the metadata address is never a destination", func(t *testing.T) {
		w := ws("acme", nil)
		w.Spec.DatabaseServer = "wide"
		for _, rule := range RuntimeNetworkPolicy(w, settings).Spec.Egress {
			for _, peer := range rule.To {
				if b := peer.IPBlock; b != nil && b.CIDR == "169.254.0.0/16" && !slices.Contains(b.Except, "169.254.169.254/32") {
					t.Errorf("%s allowed without excepting the metadata address", b.CIDR)
				}
				if b := peer.IPBlock; b != nil && b.CIDR == "169.254.169.254/32" {
					t.Errorf("the metadata address itself is allowed")
				}
			}
		}
	})

	t.Run("an unknown database server gets no database egress", func(t *testing.T) {
		w := ws("acme", nil)
		w.Spec.DatabaseServer = "gone"
		for _, rule := range RuntimeNetworkPolicy(w, settings).Spec.Egress {
			for _, p := range rule.Ports {
				if p.Port.IntVal == 5432 || p.Port.IntVal == 6432 {
					t.Errorf("database egress for an unknown server: %+v", rule)
				}
			}
		}
	})
}

func TestIngress(t *testing.T) {
	tests := []struct {
		name  string
		s     Settings
		tls   bool
		class bool
	}{
		{"https with class", settings, true, true},
		{"http without class", Settings{BaseDomain: "switchboard.localhost", URLScheme: "http"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := RuntimeIngress(ws("acme", nil), tt.s)
			if (len(ing.Spec.TLS) > 0) != tt.tls || (ing.Spec.IngressClassName != nil) != tt.class {
				t.Errorf("tls = %v, class = %v", ing.Spec.TLS, ing.Spec.IngressClassName)
			}
			if ing.Spec.Rules[0].Host != "acme."+tt.s.BaseDomain {
				t.Errorf("host = %s", ing.Spec.Rules[0].Host)
			}
		})
	}
}

func TestInitialOwner(t *testing.T) {
	s := InitialOwner(ws("acme", nil), "pw")
	if s.Name != "initial-owner" || s.Namespace != "ws-acme" || s.StringData["email"] != "o@x.example" || s.StringData["password"] != "pw" {
		t.Errorf("secret = %+v", s)
	}
}

func TestRuntimeEnvTrustedProxies(t *testing.T) {
	has := func(s Settings) (string, bool) {
		for _, e := range RuntimeEnv(ws("acme", nil), s) {
			if e.Name == "SWITCHBOARD_TRUSTED_PROXIES" {
				return e.Value, true
			}
		}
		return "", false
	}
	if _, ok := has(settings); ok {
		t.Error("no trusted proxies configured, yet the runtime is told to believe some")
	}
	s := settings
	s.TrustedProxies = "10.0.0.0/8,fd00::/8"
	if v, ok := has(s); !ok || v != "10.0.0.0/8,fd00::/8" {
		t.Errorf("SWITCHBOARD_TRUSTED_PROXIES = %q, %v", v, ok)
	}
}

func TestRuntimeEnvRegion(t *testing.T) {
	region := func(w *tenancyv1.Workspace, s Settings) (string, bool) {
		for _, e := range RuntimeEnv(w, s) {
			if e.Name == "SWITCHBOARD_REGION" {
				return e.Value, true
			}
		}
		return "", false
	}
	s := settings
	s.DatabaseRegion = map[string]string{"eu-1": "EU (Frankfurt)"}
	if v, ok := region(ws("acme", nil), s); v != "EU (Frankfurt)" {
		t.Errorf("eu-1: SWITCHBOARD_REGION = %q, %v; want EU (Frankfurt)", v, ok)
	}
	if v, ok := region(ws("acme", func(w *tenancyv1.Workspace) { w.Spec.DatabaseServer = "us-1" }), s); ok {
		t.Errorf("us-1 has no region, yet SWITCHBOARD_REGION = %q", v)
	}
}

func TestRetentionEnv(t *testing.T) {
	tests := []struct {
		name   string
		policy *tenancyv1.RetentionPolicy
		want   map[string]string
	}{
		{name: "no policy: the operator's built-in defaults", want: map[string]string{
			"SWITCHBOARD_RETENTION_POLICY": "", "SWITCHBOARD_RETENTION": "", "SWITCHBOARD_DSR_DEADLINE": "30d",
			"SWITCHBOARD_BACKUP_RETAIN_FOR": "30d", "SWITCHBOARD_BACKUP_AFTER_DELETION": "90d",
			"SWITCHBOARD_BACKUP_SHRED_ON_DELETE": "false", "SWITCHBOARD_CREDENTIALS_AFTER_DISCONNECT": "0d",
		}},
		{name: "a policy", policy: &tenancyv1.RetentionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "strict"},
			Spec: tenancyv1.RetentionPolicySpec{
				Backups:             tenancyv1.BackupRetention{RetainFor: "14d", AfterDeletion: "7d", ShredOnDelete: true},
				Credentials:         tenancyv1.CredentialsRetention{AfterDisconnect: "48h"},
				DataSubjectRequests: tenancyv1.DataSubjectRequests{Deadline: "10d"},
				Categories:          []tenancyv1.CategoryRetention{{Category: "sessions", RetainFor: "1d"}},
			},
			Status: tenancyv1.RetentionPolicyStatus{EnforcedCategories: []tenancyv1.CategoryRetention{
				{Category: "conversations", RetainFor: "365d"}, {Category: "usageEvents", RetainFor: "90d", Action: tenancyv1.RetentionAnonymize}}},
		}, want: map[string]string{
			"SWITCHBOARD_RETENTION_POLICY": "strict", "SWITCHBOARD_RETENTION": "conversations=365d:Delete,usageEvents=90d:Anonymize",
			"SWITCHBOARD_DSR_DEADLINE": "10d", "SWITCHBOARD_BACKUP_RETAIN_FOR": "14d", "SWITCHBOARD_BACKUP_AFTER_DELETION": "7d",
			"SWITCHBOARD_BACKUP_SHRED_ON_DELETE": "true", "SWITCHBOARD_CREDENTIALS_AFTER_DISCONNECT": "48h",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]string{}
			for _, e := range RetentionEnv(tt.policy) {
				got[e.Name] = e.Value
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("RetentionEnv =\n %v\nwant\n %v", got, tt.want)
			}
		})
	}
}
