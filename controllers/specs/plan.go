// Package specs builds the Kubernetes objects of a tenant from its Workspace
// and the operator's settings. Its functions do no I/O.
package specs

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// PlanSize is what a plan buys.
type PlanSize struct {
	Replicas int32
	// Runtime container requests and limits.
	CPURequest, CPULimit, MemoryRequest, MemoryLimit string
	// Namespace quota.
	QuotaCPURequests, QuotaCPULimits, QuotaMemoryRequests, QuotaMemoryLimits string
	QuotaPods, QuotaServices, QuotaPVCs, QuotaStorage                        string
	// DBConnections is the connection limit of the tenant's PostgreSQL role:
	// every replica's pool, one surge pod's during a rollout, and a few to spare.
	DBConnections int
	// StatementTimeout and IdleInTransactionTimeout are the role's defaults,
	// so one tenant's runaway query or forgotten transaction cannot hold a
	// shared server's locks and connections for long.
	StatementTimeout, IdleInTransactionTimeout time.Duration
}

func init() {
	for p, s := range plans {
		s.DBConnections = int(s.Replicas+1)*contract.RuntimePoolSize + 5
		s.IdleInTransactionTimeout = time.Minute
		if s.StatementTimeout == 0 {
			s.StatementTimeout = 30 * time.Second
		}
		plans[p] = s
	}
}

var plans = map[tenancyv1.Plan]PlanSize{
	tenancyv1.PlanFree: {Replicas: 1,
		CPURequest: "50m", CPULimit: "250m", MemoryRequest: "48Mi", MemoryLimit: "128Mi",
		QuotaCPURequests: "500m", QuotaCPULimits: "1", QuotaMemoryRequests: "256Mi", QuotaMemoryLimits: "512Mi",
		QuotaPods: "5", QuotaServices: "3", QuotaPVCs: "1", QuotaStorage: "1Gi"},
	tenancyv1.PlanStarter: {Replicas: 1,
		CPURequest: "100m", CPULimit: "500m", MemoryRequest: "64Mi", MemoryLimit: "256Mi",
		QuotaCPURequests: "1", QuotaCPULimits: "2", QuotaMemoryRequests: "512Mi", QuotaMemoryLimits: "1Gi",
		QuotaPods: "10", QuotaServices: "5", QuotaPVCs: "2", QuotaStorage: "5Gi"},
	tenancyv1.PlanPro: {Replicas: 2,
		CPURequest: "200m", CPULimit: "1", MemoryRequest: "128Mi", MemoryLimit: "512Mi",
		QuotaCPURequests: "2", QuotaCPULimits: "4", QuotaMemoryRequests: "1Gi", QuotaMemoryLimits: "2Gi",
		QuotaPods: "20", QuotaServices: "5", QuotaPVCs: "4", QuotaStorage: "20Gi"},
	tenancyv1.PlanEnterprise: {Replicas: 3,
		CPURequest: "500m", CPULimit: "2", MemoryRequest: "256Mi", MemoryLimit: "1Gi",
		QuotaCPURequests: "4", QuotaCPULimits: "8", QuotaMemoryRequests: "4Gi", QuotaMemoryLimits: "8Gi",
		QuotaPods: "40", QuotaServices: "10", QuotaPVCs: "10", QuotaStorage: "100Gi",
		StatementTimeout: 2 * time.Minute},
}

// SizeOf returns the size of a plan; an unknown plan gets starter's.
func SizeOf(p tenancyv1.Plan) PlanSize {
	if s, ok := plans[p]; ok {
		return s
	}
	return plans[tenancyv1.PlanStarter]
}

func (s PlanSize) runtimeResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(s.CPURequest),
			corev1.ResourceMemory: resource.MustParse(s.MemoryRequest),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(s.CPULimit),
			corev1.ResourceMemory: resource.MustParse(s.MemoryLimit),
		},
	}
}
