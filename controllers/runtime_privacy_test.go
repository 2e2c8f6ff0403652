package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// runtimeEnv is the runtime Deployment's environment, and its generation.
func runtimeEnv(name string) (map[string]string, int64) {
	dep := &appsv1.Deployment{}
	if err := k8s.Get(bg, client.ObjectKey{Namespace: "ws-" + name, Name: "runtime"}, dep); err != nil {
		return nil, 0
	}
	env := map[string]string{}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	return env, dep.Generation
}

var _ = Describe("The runtime's privacy facts", func() {
	It("follow a change of the effective RetentionPolicy within a minute, with the database server's region", func() {
		policy := newPolicy(func(p *tenancyv1.RetentionPolicy) {
			p.Spec.Categories = []tenancyv1.CategoryRetention{{Category: "conversations", RetainFor: "730d"}}
			p.Spec.Backups.RetainFor = "20d"
			p.Spec.DataSubjectRequests.Deadline = "21d"
		})
		name := uniqueName("pf")
		ws := newWorkspace(name)
		ws.Spec.Suspended = true // no backups or runtime pods needed: the Deployment is what counts
		ws.Spec.RetentionPolicyRef = &tenancyv1.LocalObjectReference{Name: policy.Name}
		Expect(k8s.Create(bg, ws)).To(Succeed())
		DeferCleanup(deleteAndWait, name)

		env := func() map[string]string { e, _ := runtimeEnv(name); return e }
		Eventually(env).Should(SatisfyAll(
			HaveKeyWithValue(contract.EnvRetentionPolicy, policy.Name),
			HaveKeyWithValue(contract.EnvRetention, "conversations=730d:Delete"),
			HaveKeyWithValue(contract.EnvDSRDeadline, "21d"),
			HaveKeyWithValue(contract.EnvBackupRetainFor, "20d"),
			HaveKeyWithValue(contract.EnvBackupAfterDeletion, "90d"), // the CRD's defaults
			HaveKeyWithValue(contract.EnvBackupShredOnDelete, "false"),
			HaveKeyWithValue(contract.EnvCredentialsAfterDisconnect, "0d"),
			HaveKeyWithValue(contract.EnvRegion, "EU (test)"),
			HaveKeyWithValue(contract.EnvBackups, "true"), // eu-1 backs up into the suite's file store
		))
		_, gen := runtimeEnv(name)

		// A change that removes less is enforced at once, and reaches the
		// runtime's Deployment (whose rollout restarts the runtime with it)
		// well within the minute the public privacy page promises.
		changed := time.Now()
		update(policy, func(p *tenancyv1.RetentionPolicy) {
			p.Spec.Categories[0].RetainFor = "1095d"
			p.Spec.Backups.RetainFor = "7d"
			p.Spec.Backups.AfterDeletion = "14d"
			p.Spec.Backups.ShredOnDelete = true
			p.Spec.Credentials.AfterDisconnect = "48h"
			p.Spec.DataSubjectRequests.Deadline = "10d"
		})
		Eventually(env, time.Minute, 100*time.Millisecond).Should(SatisfyAll(
			HaveKeyWithValue(contract.EnvRetention, "conversations=1095d:Delete"),
			HaveKeyWithValue(contract.EnvDSRDeadline, "10d"),
			HaveKeyWithValue(contract.EnvBackupRetainFor, "7d"),
			HaveKeyWithValue(contract.EnvBackupAfterDeletion, "14d"),
			HaveKeyWithValue(contract.EnvBackupShredOnDelete, "true"),
			HaveKeyWithValue(contract.EnvCredentialsAfterDisconnect, "48h"),
			HaveKeyWithValue(contract.EnvRegion, "EU (test)"),
		))
		GinkgoWriter.Printf("the runtime Deployment had the new policy %s after the change\n", time.Since(changed))
		Expect(time.Since(changed)).To(BeNumerically("<", time.Minute))
		_, after := runtimeEnv(name)
		Expect(after).To(BeNumerically(">", gen), "the pod template changed, so the Deployment rolls the runtime out")
	})
})
