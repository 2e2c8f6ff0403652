package specs

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// RuntimeEnv is the runtime's configuration. It holds no secret: the runtime
// logs into Vault with its ServiceAccount token and reads the rest there.
func RuntimeEnv(ws *tenancyv1.Workspace, s Settings) []corev1.EnvVar {
	env := []corev1.EnvVar{
		{Name: contract.EnvWorkspace, Value: ws.Name},
		{Name: contract.EnvDisplayName, Value: ws.Spec.DisplayName},
		{Name: contract.EnvPlan, Value: string(ws.EffectivePlan())},
		{Name: contract.EnvPublicURL, Value: URL(ws, s)},
		{Name: contract.EnvListenAddr, Value: ":" + strconv.Itoa(RuntimePort)},
		{Name: contract.EnvVaultAddr, Value: s.VaultAddress},
		{Name: contract.EnvVaultAuthMount, Value: s.VaultAuthMount},
		{Name: contract.EnvVaultAuthRole, Value: ws.VaultName()},
		{Name: contract.EnvVaultKVMount, Value: s.VaultKVMount},
		{Name: contract.EnvVaultPath, Value: ws.VaultPath()},
		{Name: contract.EnvVaultTokenPath, Value: VaultTokenPath},
		{Name: contract.EnvErasureLedger, Value: contract.LedgerPrefix(ws.Name, string(ws.UID))},
	}
	if s.TrustedProxies != "" {
		env = append(env, corev1.EnvVar{Name: contract.EnvTrustedProxies, Value: s.TrustedProxies})
	}
	if region := s.DatabaseRegion[ws.Spec.DatabaseServer]; region != "" {
		env = append(env, corev1.EnvVar{Name: contract.EnvRegion, Value: region})
	}
	return env
}

// RetentionEnv is the retention settings a runtime shows its admins and
// its public privacy page: the effective policy (nil: the built-in
// defaults), its categories in force, the rights-request deadline, backup
// retention (after taking and after the workspace's deletion, and whether
// deletion shreds them) and how long credentials outlive a disconnection.
// The defaults are those the operator applies when no policy governs.
func RetentionEnv(policy *tenancyv1.RetentionPolicy) []corev1.EnvVar {
	name, deadline, categories := "", "30d", ""
	backupRetain, afterDeletion, shred, afterDisconnect := "30d", "90d", false, "0d"
	if policy != nil {
		name = policy.Name
		if policy.Spec.DataSubjectRequests.Deadline != "" {
			deadline = string(policy.Spec.DataSubjectRequests.Deadline)
		}
		var items []string
		for _, c := range policy.Status.EnforcedCategories {
			action := c.Action
			if action == "" {
				action = tenancyv1.RetentionDelete
			}
			items = append(items, fmt.Sprintf("%s=%s:%s", c.Category, c.RetainFor, action))
		}
		categories = strings.Join(items, ",")
		b := policy.Spec.Backups
		if b.RetainFor != "" {
			backupRetain = string(b.RetainFor)
		}
		if b.AfterDeletion != "" {
			afterDeletion = string(b.AfterDeletion)
		}
		shred = b.ShredOnDelete
		if c := policy.Spec.Credentials.AfterDisconnect; c != "" {
			afterDisconnect = string(c)
		}
	}
	return []corev1.EnvVar{
		{Name: contract.EnvRetentionPolicy, Value: name},
		{Name: contract.EnvRetention, Value: categories},
		{Name: contract.EnvDSRDeadline, Value: deadline},
		{Name: contract.EnvBackupRetainFor, Value: backupRetain},
		{Name: contract.EnvBackupAfterDeletion, Value: afterDeletion},
		{Name: contract.EnvBackupShredOnDelete, Value: strconv.FormatBool(shred)},
		{Name: contract.EnvCredentialsAfterDisconnect, Value: afterDisconnect},
	}
}

// RuntimeReplicas is the plan's replicas, or zero while suspended.
func RuntimeReplicas(ws *tenancyv1.Workspace) int32 {
	if ws.Spec.Suspended {
		return 0
	}
	return SizeOf(ws.EffectivePlan()).Replicas
}

// RuntimeDeployment runs the tenant's runtime: non-root, read-only root
// filesystem, no Kubernetes API token, a Vault-audience token only.
func RuntimeDeployment(ws *tenancyv1.Workspace, s Settings) *appsv1.Deployment {
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			PeriodSeconds:    period,
			TimeoutSeconds:   2,
			FailureThreshold: failures,
			// Kubernetes' default, spelt out: the operator compares the
			// stored template with this one, and an unset number would
			// differ from the stored 1 and cost an update on every pass.
			SuccessThreshold: 1,
		}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: RuntimeName, Namespace: ws.NamespaceName(), Labels: runtimeLabels(ws)},
		Spec: appsv1.DeploymentSpec{
			Replicas:             ptr.To(RuntimeReplicas(ws)),
			RevisionHistoryLimit: ptr.To(int32(3)),
			Selector:             &metav1.LabelSelector{MatchLabels: RuntimeSelector(ws)},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromInt32(1)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: runtimeLabels(ws)},
				Spec: corev1.PodSpec{
					ServiceAccountName:           ServiceAccountName,
					AutomountServiceAccountToken: ptr.To(false),
					// The replicas of a Pro or Enterprise plan land on
					// different nodes where there are several, so that one
					// node's loss leaves the inbox up.
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew:           1,
						TopologyKey:       "kubernetes.io/hostname",
						WhenUnsatisfiable: corev1.ScheduleAnyway,
						LabelSelector:     &metav1.LabelSelector{MatchLabels: RuntimeSelector(ws)},
					}},
					EnableServiceLinks: ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To(int64(65532)),
						RunAsGroup:     ptr.To(int64(65532)),
						FSGroup:        ptr.To(int64(65532)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            "runtime",
						Image:           Image(ws, s),
						ImagePullPolicy: corev1.PullIfNotPresent,
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: RuntimePort, Protocol: corev1.ProtocolTCP}},
						Env:             RuntimeEnv(ws, s),
						Resources:       SizeOf(ws.EffectivePlan()).runtimeResources(),
						StartupProbe:    probe("/healthz", 2, 30),
						LivenessProbe:   probe("/healthz", 10, 3),
						ReadinessProbe:  probe("/readyz", 5, 2),
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							RunAsNonRoot:             ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "vault-token", MountPath: VaultTokenDir, ReadOnly: true},
							{Name: "tmp", MountPath: "/tmp"},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "vault-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
							Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
								Audience: s.VaultAudience, ExpirationSeconds: ptr.To(int64(3600)), Path: "token",
							}}},
						}}},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resourceMust("64Mi"))}}},
					},
				},
			},
		},
	}
}

// RuntimeDisruptionBudget lets a node drain evict one ready runtime pod at a
// time, so that a plan with several replicas keeps serving through it; a
// single replica, or a pod that is not ready, never blocks the drain.
func RuntimeDisruptionBudget(ws *tenancyv1.Workspace) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: RuntimeName, Namespace: ws.NamespaceName(), Labels: runtimeLabels(ws)},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: RuntimeSelector(ws)},
			// A pod that is not ready (the database is down, the image
			// crash-loops) serves nothing: evicting it must not wait for
			// the budget, or a drain would hang.
			UnhealthyPodEvictionPolicy: ptr.To(policyv1.AlwaysAllow),
		},
	}
}

// RuntimeService fronts the runtime's pods.
func RuntimeService(ws *tenancyv1.Workspace) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: RuntimeName, Namespace: ws.NamespaceName(), Labels: runtimeLabels(ws)},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: RuntimeSelector(ws),
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// RuntimeIngress routes the tenant's host to its runtime. With https URLs it
// asks for TLS from the Secret runtime-tls (for example issued by cert-manager).
func RuntimeIngress(ws *tenancyv1.Workspace, s Settings) *networkingv1.Ingress {
	host := ws.HostFor(s.BaseDomain)
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: RuntimeName, Namespace: ws.NamespaceName(), Labels: runtimeLabels(ws)},
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{
				Host: host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: ptr.To(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: RuntimeName, Port: networkingv1.ServiceBackendPort{Name: "http"},
						}},
					}},
				}},
			}},
		},
	}
	if s.IngressClass != "" {
		ing.Spec.IngressClassName = ptr.To(s.IngressClass)
	}
	if s.URLScheme == "https" {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: "runtime-tls"}}
	}
	return ing
}
