package controllers_test

import (
	"database/sql"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pressly/goose/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/migrations"
)

func policyCondition(name string) func() *metav1.Condition {
	return func() *metav1.Condition {
		p := &tenancyv1.RetentionPolicy{}
		if err := k8s.Get(bg, client.ObjectKey{Name: name}, p); err != nil {
			return nil
		}
		if p.Status.ObservedGeneration != p.Generation {
			return nil
		}
		return meta.FindStatusCondition(p.Status.Conditions, tenancyv1.ConditionReady)
	}
}

func policyWorkspaces(name string) func() int {
	return func() int {
		p := &tenancyv1.RetentionPolicy{}
		if err := k8s.Get(bg, client.ObjectKey{Name: name}, p); err != nil {
			return -1
		}
		return p.Status.Workspaces
	}
}

var _ = Describe("RetentionPolicies", func() {
	It("count the workspaces they govern, and are Ready at their generation", func() {
		policy := newPolicy(func(p *tenancyv1.RetentionPolicy) { p.Spec.Backups.RetainFor = "10d" })
		Eventually(policyCondition(policy.Name)).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonGoverning))
		Expect(policyWorkspaces(policy.Name)()).To(BeZero())

		name := uniqueName("rpc")
		ws := newWorkspace(name)
		ws.Spec.Suspended = true
		ws.Spec.RetentionPolicyRef = &tenancyv1.LocalObjectReference{Name: policy.Name}
		Expect(k8s.Create(bg, ws)).To(Succeed())
		Eventually(policyWorkspaces(policy.Name)).Should(Equal(1))
		Expect(policyCondition(policy.Name)()).To(HaveField("Message", "governs 1 workspaces"))

		update(policy, func(p *tenancyv1.RetentionPolicy) { p.Spec.Backups.RetainFor = "20d" })
		Eventually(policyCondition(policy.Name)).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonGoverning))

		deleteAndWait(name)
		Eventually(policyWorkspaces(policy.Name)).Should(BeZero())
	})

	It("report two default policies on both, and purge nothing for the workspaces that name none until one goes", func() {
		a := newPolicy(func(p *tenancyv1.RetentionPolicy) {
			p.Annotations = map[string]string{tenancyv1.AnnotationDefaultPolicy: "true"}
			p.Spec.Backups.RetainFor = "1d"
		})
		name := uniqueName("rpd")
		createReady(newWorkspace(name))
		DeferCleanup(deleteAndWait, name)
		b := takeBackup(name, false)
		Eventually(policyWorkspaces(a.Name)).Should(BeNumerically(">=", 1)) // other specs' workspaces name no policy either

		second := newPolicy(func(p *tenancyv1.RetentionPolicy) {
			p.Annotations = map[string]string{tenancyv1.AnnotationDefaultPolicy: "true"}
			p.Spec.Backups.RetainFor = "1d"
		})
		for _, p := range []string{a.Name, second.Name} {
			Eventually(policyCondition(p)).Should(SatisfyAll(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonConflictingDefaults),
				HaveField("Message", ContainSubstring("nothing is purged"))))
			Eventually(policyWorkspaces(p)).Should(BeZero())
		}

		By("the backup has expired, but nothing is purged while the default is ambiguous")
		testClock.Advance(3 * 24 * time.Hour)
		touch(b)
		Eventually(backupCondition(b.Name, tenancyv1.BackupConditionExpiryBlocked)).Should(SatisfyAll(
			haveStatus(metav1.ConditionTrue, tenancyv1.ReasonConflictingDefaults), HaveField("Message", ContainSubstring(second.Name))))
		Consistently(backupGone(b.Name), 2*time.Second).Should(BeFalse())
		Expect(artifactPath(b)).To(BeAnExistingFile())

		By("once one default is gone, the purge goes ahead")
		Expect(k8s.Delete(bg, second)).To(Succeed())
		Eventually(policyCondition(a.Name)).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonGoverning))
		touchIfThere(b)
		Eventually(backupGone(b.Name), time.Minute).Should(BeTrue())
	})

	It("purge nothing for a workspace that names a policy that does not exist", func() {
		name := uniqueName("rpm")
		ws := newWorkspace(name)
		ws.Spec.RetentionPolicyRef = &tenancyv1.LocalObjectReference{Name: "no-such-policy"}
		createReady(ws)
		DeferCleanup(deleteAndWait, name)
		b := takeBackup(name, false)
		testClock.Advance(40 * 24 * time.Hour)
		touch(b)
		Eventually(backupCondition(b.Name, tenancyv1.BackupConditionExpiryBlocked)).Should(SatisfyAll(
			haveStatus(metav1.ConditionTrue, tenancyv1.ReasonPolicyNotFound), HaveField("Message", ContainSubstring("no-such-policy"))))
		Expect(artifactPath(b)).To(BeAnExistingFile())
	})
})

var _ = Describe("credentials.afterDisconnect", func() {
	It("keeps a disconnected Integration's credentials for the window, then destroys every version", func() {
		policy := newPolicy(func(p *tenancyv1.RetentionPolicy) { p.Spec.Credentials.AfterDisconnect = "1h" })
		name := uniqueName("adc")
		ns := "ws-" + name
		ws := newWorkspace(name)
		ws.Spec.RetentionPolicyRef = &tenancyv1.LocalObjectReference{Name: policy.Name}
		ws.Spec.Suspended = true
		Expect(k8s.Create(bg, ws)).To(Succeed())
		DeferCleanup(deleteAndWait, name)
		Eventually(condition(name, tenancyv1.ConditionVaultReady)).Should(haveStatus(metav1.ConditionTrue, ""))
		Eventually(condition(name, tenancyv1.ConditionNamespaceReady)).Should(haveStatus(metav1.ConditionTrue, ""))
		path := "workspaces/" + name + "/integrations/sms"
		Expect(k8s.Create(bg, telnyxSecret(ns, "creds", "KEY-window-51c2"))).To(Succeed())
		Expect(k8s.Create(bg, telnyxIntegration(ns, "sms", "creds"))).To(Succeed())
		Eventually(integrationReady(ns, "sms")).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonCredentialsStored))

		update(getIntegration(ns, "sms"), func(in *tenancyv1.Integration) { in.Spec.Disconnected = true })
		Eventually(integrationReady(ns, "sms")).Should(SatisfyAll(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonDisconnected),
			HaveField("Message", ContainSubstring("stay in Vault until"))))
		Expect(vaultKV(path)).To(HaveKeyWithValue("apiKey", "KEY-window-51c2"))
		Expect(getIntegration(ns, "sms").Status.CredentialsDestroyedAt).To(BeNil())

		By("59 minutes later they are still there")
		testClock.Advance(59 * time.Minute)
		touch(getIntegration(ns, "sms"))
		Consistently(func() map[string]any { return vaultKV(path) }, 2*time.Second).Should(HaveKey("apiKey"))

		By("past the hour, every version and the metadata are destroyed")
		testClock.Advance(2 * time.Minute)
		touch(getIntegration(ns, "sms"))
		Eventually(func() *metav1.Time { return getIntegration(ns, "sms").Status.CredentialsDestroyedAt }).ShouldNot(BeNil())
		Expect(kvMetadata(path)).To(BeNil())
		Expect(integrationReady(ns, "sms")()).To(HaveField("Message", ContainSubstring("destroyed")))
	})
})

// migrateRuntime applies the runtime's migrations to a workspace's
// database, as its role, as the runtime does at start; it returns a pool.
func migrateRuntime(name string) *pgxpool.Pool {
	GinkgoHelper()
	dsn := vaultKV("workspaces/" + name + "/" + contract.EntryDatabase)[contract.DatabaseDSN].(string)
	db, err := sql.Open("pgx", dsn)
	Expect(err).NotTo(HaveOccurred())
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	Expect(err).NotTo(HaveOccurred())
	_, err = provider.Up(bg)
	Expect(err).NotTo(HaveOccurred())
	pool, err := pgxpool.New(bg, dsn)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(pool.Close)
	return pool
}

// governedWorkspace creates a suspended workspace governed by policy, with
// the runtime's schema migrated into its database, and returns its name and
// a pool on that database.
func governedWorkspace(prefix string, policy *tenancyv1.RetentionPolicy, legalHold bool) (string, *pgxpool.Pool) {
	GinkgoHelper()
	name := uniqueName(prefix)
	ws := newWorkspace(name)
	ws.Spec.RetentionPolicyRef = &tenancyv1.LocalObjectReference{Name: policy.Name}
	ws.Spec.LegalHold = legalHold
	ws.Spec.Suspended = true
	Expect(k8s.Create(bg, ws)).To(Succeed())
	DeferCleanup(deleteAndWait, name)
	Eventually(condition(name, tenancyv1.ConditionDatabaseReady)).Should(haveStatus(metav1.ConditionTrue, ""))
	return name, migrateRuntime(name)
}

// seedUsage adds one sign-in usage event per day from..to days ago, but
// for day skip (0: none), whose age would sit on a 30-day cutoff.
func seedUsage(pool *pgxpool.Pool, from, to, skip int) {
	GinkgoHelper()
	_, err := pool.Exec(bg, `INSERT INTO usage_events (at, kind) SELECT now() - (g || ' days')::interval, 'sign_in'
		FROM generate_series($1::int, $2::int) g WHERE g <> $3`, from, to, skip)
	Expect(err).NotTo(HaveOccurred())
}

var _ = Describe("Retention enforcement", func() {
	It("purges each category's expired rows on its schedule, reports them, and purges nothing under legal hold", func() {
		policy := newPolicy(func(p *tenancyv1.RetentionPolicy) {
			p.Spec.Categories = []tenancyv1.CategoryRetention{{Category: "usageEvents", RetainFor: "30d", Action: tenancyv1.RetentionDelete}}
		})
		name, pool := governedWorkspace("ret", policy, true)
		count := func() (old, young int64) {
			Expect(pool.QueryRow(bg, `SELECT count(*) FILTER (WHERE at < now() - interval '30 days'), count(*) FILTER (WHERE at >= now() - interval '30 days') FROM usage_events`).Scan(&old, &young)).To(Succeed())
			return
		}
		seedUsage(pool, 1, 60, 30)
		old, young := count()
		Expect(old).To(Equal(int64(30)))
		Expect(young).To(Equal(int64(29)))

		By("under legal hold nothing goes, and the condition says so")
		Eventually(condition(name, tenancyv1.ConditionRetentionEnforced)).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonLegalHold))
		testClock.Advance(2 * time.Hour)
		touch(getWS(name))
		Consistently(func() int64 { o, _ := count(); return o }, 2*time.Second).Should(Equal(int64(30)))

		By("once the hold is lifted, the run deletes exactly the rows older than 30 days")
		update(getWS(name), func(ws *tenancyv1.Workspace) { ws.Spec.LegalHold = false })
		Eventually(condition(name, tenancyv1.ConditionRetentionEnforced), time.Minute).Should(SatisfyAll(
			haveStatus(metav1.ConditionTrue, tenancyv1.ReasonEnforced), HaveField("Message", ContainSubstring("deleted 30 usageEvents rows"))))
		old, young = count()
		Expect(old).To(BeZero())
		Expect(young).To(Equal(int64(29)))
		st := getWS(name).Status.Retention
		Expect(st.Policy).To(Equal(policy.Name))
		Expect(st.Rows).To(HaveKeyWithValue("usageEvents", int64(30)))
		Expect(st.LastRun).NotTo(BeNil())
		Eventually(func() []string { return eventsOf(name) }).Should(ContainElement(ContainSubstring("deleted 30 usageEvents rows")))

		By("the next run is an interval later")
		lastRun := st.LastRun.Time
		touch(getWS(name))
		settle(name)
		Expect(getWS(name).Status.Retention.LastRun.Time).To(Equal(lastRun))
	})
})

var _ = Describe("Retention plans", func() {
	It("apply a generation that removes nothing more at once, and a stricter one only once its plan is approved", func() {
		policy := newPolicy(func(p *tenancyv1.RetentionPolicy) {
			p.Spec.Categories = []tenancyv1.CategoryRetention{{Category: "usageEvents", RetainFor: "90d"}}
		})
		name, pool := governedWorkspace("rplan", policy, false)
		seedUsage(pool, 1, 60, 30)
		old := func() int64 {
			var n int64
			Expect(pool.QueryRow(bg, `SELECT count(*) FROM usage_events WHERE at < now() - interval '30 days'`).Scan(&n)).To(Succeed())
			return n
		}
		getPolicy := func() *tenancyv1.RetentionPolicy {
			p := &tenancyv1.RetentionPolicy{}
			Expect(k8s.Get(bg, client.ObjectKeyFromObject(policy), p)).To(Succeed())
			return p
		}
		run := func() {
			GinkgoHelper()
			testClock.Advance(2 * time.Hour)
			touch(getWS(name))
		}

		By("a first generation that removes nothing today is in force at once")
		Eventually(func() int64 { return getPolicy().Status.EnforcedGeneration }).Should(Equal(int64(1)))
		Eventually(policyCondition(policy.Name)).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonGoverning))

		By("shortening usageEvents to 30d plans 30 rows and purges none of them")
		update(getPolicy(), func(p *tenancyv1.RetentionPolicy) { p.Spec.Categories[0].RetainFor = "30d" })
		Eventually(policyCondition(policy.Name), time.Minute).Should(SatisfyAll(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonPlanAwaitingApproval),
			HaveField("Message", ContainSubstring("30 more rows"))))
		plan := getPolicy().Status.Plan
		Expect(plan).NotTo(BeNil())
		Expect(plan.Rows).To(HaveKeyWithValue("usageEvents", int64(30)))
		Expect(plan.Largest).To(ConsistOf(tenancyv1.WorkspaceRows{Workspace: name, Rows: 30}))
		Expect(receiptConfigMap(plan.ConfigMap)()).To(HaveKeyWithValue("plan.json", ContainSubstring(name)))
		Expect(getPolicy().Status.EnforcedGeneration).To(Equal(int64(1)))
		run()
		Eventually(condition(name, tenancyv1.ConditionRetentionEnforced)).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonEnforced))
		Expect(getWS(name).Status.Retention.Generation).To(Equal(int64(1)))
		Expect(old()).To(Equal(int64(30)))

		By("an approval of another plan is refused")
		update(getPolicy(), func(p *tenancyv1.RetentionPolicy) {
			p.Annotations = map[string]string{tenancyv1.AnnotationApprovePlan: "0123456789abcdef"}
		})
		Eventually(policyCondition(policy.Name)).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonStaleApproval))
		Expect(getPolicy().Status.EnforcedGeneration).To(Equal(int64(1)))

		By("approving the plan puts the generation in force, and the next run purges")
		update(getPolicy(), func(p *tenancyv1.RetentionPolicy) { p.Annotations[tenancyv1.AnnotationApprovePlan] = plan.Hash })
		Eventually(func() int64 { return getPolicy().Status.EnforcedGeneration }).Should(Equal(int64(2)))
		Eventually(policyCondition(policy.Name)).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonGoverning))
		run()
		Eventually(old, time.Minute).Should(BeZero())
		Eventually(func() int64 { return getWS(name).Status.Retention.Generation }).Should(Equal(int64(2)))

		By("lengthening applies at once")
		update(getPolicy(), func(p *tenancyv1.RetentionPolicy) { p.Spec.Categories[0].RetainFor = "60d" })
		Eventually(func() int64 { return getPolicy().Status.EnforcedGeneration }).Should(Equal(int64(3)))
		Expect(getPolicy().Status.Plan).To(BeNil())
	})
})

var _ = Describe("Retention during an outage", Serial, func() {
	It("reports the tenant database down, counts nothing as enforced, and runs once it is back", func() {
		policy := newPolicy(func(p *tenancyv1.RetentionPolicy) {
			p.Spec.Categories = []tenancyv1.CategoryRetention{{Category: "usageEvents", RetainFor: "30d"}}
		})
		name, pool := governedWorkspace("retdown", policy, false)
		seedUsage(pool, 31, 40, 0)
		pool.Close()
		Eventually(func() int64 { return getPolicyEnforced(policy.Name) }).Should(Equal(int64(1)))
		Eventually(condition(name, tenancyv1.ConditionRetentionEnforced), time.Minute).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonEnforced))
		last := getWS(name).Status.Retention.LastRun.Time

		pg.Stop()
		restarted := false
		DeferCleanup(func() {
			if !restarted {
				Expect(pg.Start()).To(Succeed())
			}
		})
		testClock.Advance(2 * time.Hour)
		touch(getWS(name))
		Eventually(condition(name, tenancyv1.ConditionRetentionEnforced), time.Minute).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonDatabaseUnreachable), HaveField("Message", ContainSubstring("retried"))))
		Expect(getWS(name).Status.Retention.LastRun.Time).To(Equal(last), "a failed run is not a run")

		Expect(pg.Start()).To(Succeed())
		restarted = true
		Eventually(condition(name, tenancyv1.ConditionRetentionEnforced), time.Minute).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonEnforced))
		Expect(getWS(name).Status.Retention.LastRun.Time).To(BeTemporally(">", last))
	})
})

func getPolicyEnforced(name string) int64 {
	p := &tenancyv1.RetentionPolicy{}
	if err := k8s.Get(bg, client.ObjectKey{Name: name}, p); err != nil {
		return -1
	}
	return p.Status.EnforcedGeneration
}
