package controllers_test

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/crypto/bcrypt"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
)

var _ = Describe("Workspace", func() {
	It("provisions namespace, database, Vault and runtime, and reports it", func() {
		name := uniqueName("happy")
		ns := "ws-" + name
		Expect(k8s.Create(bg, newWorkspace(name))).To(Succeed())

		By("reporting the parts as they come up, with the runtime waiting for its rollout")
		Eventually(condition(name, tenancyv1.ConditionNamespaceReady)).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonProvisioned))
		Eventually(condition(name, tenancyv1.ConditionDatabaseReady)).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonProvisioned))
		Eventually(condition(name, tenancyv1.ConditionVaultReady)).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonProvisioned))
		Eventually(condition(name, tenancyv1.ConditionRuntimeReady)).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonRolloutInProgress))
		ws := getWS(name)
		Expect(ws.Status.Phase).To(Equal(tenancyv1.WorkspaceProvisioning))
		Expect(ws.Finalizers).To(ContainElement(tenancyv1.WorkspaceFinalizer))

		By("creating the namespace under Pod Security restricted, with quota, limits and policies")
		nsObj := &corev1.Namespace{}
		Expect(k8s.Get(bg, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		Expect(nsObj.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
		Expect(nsObj.Labels).To(HaveKeyWithValue(tenancyv1.LabelManagedBy, "switchboard"))
		Expect(nsObj.Labels).To(HaveKeyWithValue(tenancyv1.LabelWorkspace, name))
		Expect(metav1.GetControllerOf(nsObj).UID).To(Equal(ws.UID))
		Expect(nsObj.Annotations).To(HaveKeyWithValue(tenancyv1.AnnotationWorkspaceUID, string(ws.UID)), "the ownership mark")
		quota := &corev1.ResourceQuota{}
		Expect(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "workspace"}, quota)).To(Succeed())
		Expect(quota.Spec.Hard.Pods().String()).To(Equal("10"))
		Expect(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "workspace"}, &corev1.LimitRange{})).To(Succeed())
		deny := &networkingv1.NetworkPolicy{}
		Expect(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "default-deny"}, deny)).To(Succeed())
		Expect(deny.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress))
		Expect(deny.Spec.Ingress).To(BeEmpty())
		Expect(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "runtime"}, &networkingv1.NetworkPolicy{})).To(Succeed())
		sa := &corev1.ServiceAccount{}
		Expect(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "runtime"}, sa)).To(Succeed())
		Expect(metav1.GetControllerOf(sa).UID).To(Equal(ws.UID))

		By("creating the database and role, owned by the role, closed to PUBLIC")
		db := dbName(name)
		var owner string
		var publicConnect bool
		Expect(pgAdmin(`SELECT pg_get_userbyid(datdba), has_database_privilege('public', datname, 'CONNECT') FROM pg_database WHERE datname=$1`, db).Scan(&owner, &publicConnect)).To(Succeed())
		Expect(owner).To(Equal(db))
		Expect(publicConnect).To(BeFalse())

		By("keeping the role's password in Vault only, and working")
		creds := vaultKV("workspaces/" + name + "/database")
		Expect(creds).To(HaveKeyWithValue("username", db))
		conn, err := pgx.Connect(bg, creds["dsn"].(string))
		Expect(err).NotTo(HaveOccurred())
		var who string
		Expect(conn.QueryRow(bg, "SELECT current_user").Scan(&who)).To(Succeed())
		Expect(who).To(Equal(db))
		conn.Close(bg)

		By("creating the Vault policy, auth role and transit key")
		Expect(vaultExists("sys/policies/acl/ws-" + name)).To(BeTrue())
		role, err := rootVault().Logical().Read("auth/kubernetes/role/ws-" + name)
		Expect(err).NotTo(HaveOccurred())
		Expect(role.Data["bound_service_account_namespaces"]).To(ConsistOf(ns))
		Expect(role.Data["bound_service_account_names"]).To(ConsistOf("runtime"))
		Expect(role.Data["token_policies"]).To(ConsistOf("ws-" + name))
		Expect(getWS(name).Status.TransitKey).To(Equal("ws-" + name + "-" + string(ws.UID)))
		key, err := rootVault().Logical().Read("transit/keys/" + getWS(name).Status.TransitKey)
		Expect(err).NotTo(HaveOccurred())
		Expect(key.Data["deletion_allowed"]).To(BeTrue())

		By("creating the runtime's Deployment, Service and Ingress with no secret in the env")
		dep := &appsv1.Deployment{}
		Expect(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "runtime"}, dep)).To(Succeed())
		c := dep.Spec.Template.Spec.Containers[0]
		Expect(c.Image).To(Equal("switchboard/runtime:test"))
		Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
		Expect(*dep.Spec.Template.Spec.SecurityContext.RunAsNonRoot).To(BeTrue())
		Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
		Expect(c.Resources.Limits.Memory().String()).To(Equal("256Mi"))
		for _, e := range c.Env {
			Expect(e.ValueFrom).To(BeNil())
		}
		Expect(dep.Spec.Template.Spec.TopologySpreadConstraints).To(ConsistOf(HaveField("TopologyKey", "kubernetes.io/hostname")))
		Expect(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "runtime"}, &corev1.Service{})).To(Succeed())
		pdb := &policyv1.PodDisruptionBudget{}
		Expect(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "runtime"}, pdb)).To(Succeed())
		Expect(pdb.Spec.MaxUnavailable.IntValue()).To(Equal(1))
		Expect(pdb.Spec.Selector.MatchLabels).To(Equal(dep.Spec.Selector.MatchLabels))
		Expect(metav1.GetControllerOf(pdb).UID).To(Equal(ws.UID))
		ing := &networkingv1.Ingress{}
		Expect(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "runtime"}, ing)).To(Succeed())
		Expect(ing.Spec.Rules[0].Host).To(Equal(name + ".inbox.test.example"))
		Expect(*ing.Spec.IngressClassName).To(Equal("nginx"))

		By("giving the first owner a one-time password: plaintext in the Secret, a bcrypt hash in Vault")
		secret := &corev1.Secret{}
		Expect(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "initial-owner"}, secret)).To(Succeed())
		boot := vaultKV("workspaces/" + name + "/bootstrap")
		Expect(boot).To(HaveKeyWithValue("email", "owner@"+name+".example"))
		Expect(bcrypt.CompareHashAndPassword([]byte(boot["passwordHash"].(string)), secret.Data["password"])).To(Succeed())

		By("becoming Ready once the runtime is available")
		rollOut(name)
		Eventually(condition(name, tenancyv1.ConditionReady)).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonAvailable))
		ws = getWS(name)
		Expect(ws.Status.Phase).To(Equal(tenancyv1.WorkspaceReady))
		Expect(ws.Status.ObservedGeneration).To(Equal(ws.Generation))
		Expect(ws.Status.Namespace).To(Equal(ns))
		Expect(ws.Status.URL).To(Equal("https://" + name + ".inbox.test.example"))
		Expect(ws.Status.Database).To(Equal(&tenancyv1.WorkspaceDatabaseStatus{Server: "eu-1", Name: db}))
		Eventually(func() []string { return eventsOf(name) }).Should(ContainElement(HavePrefix(tenancyv1.EventProvisioned)))

		By("putting no secret in status or events")
		expectNoSecret([]string{creds["password"].(string), string(secret.Data["password"]), boot["passwordHash"].(string)},
			toJSON(ws), strings.Join(eventsOf(name), "\n"))
	})

	It("puts back a child deleted by hand, and writes nothing when nothing changed", func() {
		name := uniqueName("drift")
		ns := "ws-" + name
		createReady(newWorkspace(name))

		By("recreating deleted children")
		Expect(k8s.Delete(bg, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default-deny"}})).To(Succeed())
		Expect(k8s.Delete(bg, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "runtime"}})).To(Succeed())
		Expect(k8s.Delete(bg, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workspace"}})).To(Succeed())
		Eventually(func() error {
			return k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "default-deny"}, &networkingv1.NetworkPolicy{})
		}).Should(Succeed())
		Eventually(func() error { return k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "runtime"}, &corev1.Service{}) }).Should(Succeed())
		Eventually(func() error {
			return k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "workspace"}, &corev1.ResourceQuota{})
		}).Should(Succeed())

		By("reverting a hand edit of an owned field")
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "runtime"}}
		update(dep, func(dep *appsv1.Deployment) { dep.Spec.Template.Spec.Containers[0].Image = "evil/image:latest" })
		Eventually(func() string {
			Expect(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "runtime"}, dep)).To(Succeed())
			return dep.Spec.Template.Spec.Containers[0].Image
		}).Should(Equal("switchboard/runtime:test"))
		Eventually(condition(name, tenancyv1.ConditionRuntimeReady)).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonRolloutInProgress))
		rollOut(name)
		Eventually(condition(name, tenancyv1.ConditionReady)).Should(haveStatus(metav1.ConditionTrue, ""))

		By("resyncing an unchanged workspace: no write to Kubernetes, Postgres or Vault")
		settle(name)
		versions := func() map[string]string {
			out := map[string]string{}
			for _, o := range []client.Object{
				&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
				&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workspace"}},
				&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workspace"}},
				&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default-deny"}},
				&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "runtime"}},
				&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "runtime"}},
				&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "runtime"}},
				&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "runtime"}},
				&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "runtime"}},
				&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "runtime"}},
				&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "initial-owner"}},
			} {
				Expect(k8s.Get(bg, client.ObjectKeyFromObject(o), o)).To(Succeed())
				out[kindName(o)] = o.GetResourceVersion()
			}
			return out
		}
		before := versions()
		external := writes.total()
		ws := getWS(name)
		touch(ws)
		touchedRV := getWS(name).ResourceVersion
		// Several passes: the annotation change, and the resync of every child event.
		Consistently(func() int { return writes.total() }, 3*time.Second).Should(Equal(external),
			"writes on resync: %v", writes.since(external))
		Expect(versions()).To(Equal(before))
		Expect(getWS(name).ResourceVersion).To(Equal(touchedRV), "the status of an unchanged workspace was rewritten")
	})

	It("isolates tenants in Postgres and in Vault", func() {
		a, b := uniqueName("iso-a"), uniqueName("iso-b")
		for _, n := range []string{a, b} {
			Expect(k8s.Create(bg, newWorkspace(n))).To(Succeed())
		}
		for _, n := range []string{a, b} {
			Eventually(condition(n, tenancyv1.ConditionDatabaseReady)).Should(haveStatus(metav1.ConditionTrue, ""))
		}
		credsA := vaultKV("workspaces/" + a + "/database")

		By("refusing A's role on B's database")
		_, err := pgx.Connect(bg, pg.DSN(credsA["username"].(string), credsA["password"].(string), dbName(b)))
		Expect(err).To(HaveOccurred())
		var pgErr *pgconn.PgError
		Expect(errorsAs(err, &pgErr)).To(BeTrue(), "got %v", err)
		Expect(pgErr.Code).To(Equal("42501")) // insufficient_privilege
		conn, err := pgx.Connect(bg, pg.DSN(credsA["username"].(string), credsA["password"].(string), dbName(a)))
		Expect(err).NotTo(HaveOccurred())
		conn.Close(bg)

		By("refusing a token with A's policy on B's Vault path")
		tok, err := rootVault().Auth().Token().Create(&vaultTokenRequest{Policies: []string{"ws-" + a}, NoDefaultPolicy: true})
		Expect(err).NotTo(HaveOccurred())
		va := rootVault()
		va.SetToken(tok.Auth.ClientToken)
		_, err = va.KVv2("switchboard").Get(bg, "workspaces/"+a+"/database")
		Expect(err).NotTo(HaveOccurred())
		_, err = va.KVv2("switchboard").Get(bg, "workspaces/"+b+"/database")
		Expect(err).To(MatchError(ContainSubstring("403")))
		_, err = va.Logical().Write("switchboard/data/workspaces/"+a+"/database", map[string]any{"data": map[string]any{"x": "y"}})
		Expect(err).To(MatchError(ContainSubstring("403")), "the runtime's policy is read-only")
	})

	It("lets Vault log in the runtime ServiceAccount with a token from TokenRequest", func() {
		a, b := uniqueName("auth-a"), uniqueName("auth-b")
		for _, n := range []string{a, b} {
			Expect(k8s.Create(bg, newWorkspace(n))).To(Succeed())
		}
		for _, n := range []string{a, b} {
			Eventually(condition(n, tenancyv1.ConditionVaultReady)).Should(haveStatus(metav1.ConditionTrue, ""))
			Eventually(condition(n, tenancyv1.ConditionNamespaceReady)).Should(haveStatus(metav1.ConditionTrue, ""))
		}
		jwt := runtimeToken("ws-" + a)

		login := func(role string) (*vaultSecret, error) {
			return rootVaultNoToken().Logical().Write("auth/kubernetes/login", map[string]any{"role": role, "jwt": jwt})
		}
		var sec *vaultSecret
		var err error
		Eventually(func() error { sec, err = login("ws-" + a); return err }).Should(Succeed(), func() string { return vaultSrv.Log() })
		Expect(sec.Auth.Policies).To(ContainElement("ws-" + a))
		v := rootVaultNoToken()
		v.SetToken(sec.Auth.ClientToken)
		_, err = v.KVv2("switchboard").Get(bg, "workspaces/"+a+"/database")
		Expect(err).NotTo(HaveOccurred())
		_, err = v.KVv2("switchboard").Get(bg, "workspaces/"+b+"/database")
		Expect(err).To(MatchError(ContainSubstring("403")))

		By("refusing A's token for B's role")
		_, err = login("ws-" + b)
		Expect(err).To(HaveOccurred())
	})

	It("suspends and resumes the runtime, keeping all data", func() {
		name := uniqueName("suspend")
		createReady(newWorkspace(name))
		ws := getWS(name)
		update(ws, func(ws *tenancyv1.Workspace) { ws.Spec.Suspended = true })

		dep := &appsv1.Deployment{}
		Eventually(func() int32 {
			Expect(k8s.Get(bg, client.ObjectKey{Namespace: "ws-" + name, Name: "runtime"}, dep)).To(Succeed())
			return *dep.Spec.Replicas
		}).Should(BeZero())
		rollOut(name)
		Eventually(func() tenancyv1.WorkspacePhase { return getWS(name).Status.Phase }).Should(Equal(tenancyv1.WorkspaceSuspended))
		Expect(condition(name, tenancyv1.ConditionReady)()).To(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonSuspended))
		Expect(condition(name, tenancyv1.ConditionRuntimeReady)()).To(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonSuspended))
		db, role := pgExists(dbName(name))
		Expect(db && role).To(BeTrue())
		Expect(vaultKV("workspaces/" + name + "/database")).NotTo(BeNil())
		Eventually(func() []string { return eventsOf(name) }).Should(ContainElement(HavePrefix(tenancyv1.EventSuspended)))

		update(ws, func(ws *tenancyv1.Workspace) { ws.Spec.Suspended = false })
		Eventually(func() int32 {
			Expect(k8s.Get(bg, client.ObjectKey{Namespace: "ws-" + name, Name: "runtime"}, dep)).To(Succeed())
			return *dep.Spec.Replicas
		}).Should(Equal(int32(1)))
		rollOut(name)
		Eventually(func() tenancyv1.WorkspacePhase { return getWS(name).Status.Phase }).Should(Equal(tenancyv1.WorkspaceReady))
		Eventually(func() []string { return eventsOf(name) }).Should(ContainElement(HavePrefix(tenancyv1.EventResumed)))
	})

	It("counts workspaces by phase for Prometheus", func() {
		name := uniqueName("stats")
		ws := newWorkspace(name)
		ws.Spec.DatabaseServer = "mars-2" // quickly Failed
		Expect(k8s.Create(bg, ws)).To(Succeed())
		Eventually(func() tenancyv1.WorkspacePhase { return getWS(name).Status.Phase }).Should(Equal(tenancyv1.WorkspaceFailed))
		Eventually(func(g Gomega) {
			var list tenancyv1.WorkspaceList
			g.Expect(k8s.List(bg, &list)).To(Succeed())
			want := map[string]float64{}
			for _, w := range list.Items {
				want[string(w.Status.Phase)]++
			}
			got := gauge(g, "switchboard_workspaces")
			for phase, n := range want {
				g.Expect(got).To(HaveKeyWithValue(phase, n))
			}
			g.Expect(got).To(HaveKeyWithValue("Suspended", BeNumerically(">=", 0)), "every phase has a series")
			g.Expect(got["Failed"]).To(BeNumerically(">=", 1))
			g.Expect(gauge(g, "switchboard_integrations")).To(HaveKey("Connected"))
		}).Should(Succeed())
		deleteAndWait(name)
	})

	It("reports an unknown databaseServer", func() {
		name := uniqueName("unknown")
		ws := newWorkspace(name)
		ws.Spec.DatabaseServer = "mars-1"
		Expect(k8s.Create(bg, ws)).To(Succeed())
		Eventually(condition(name, tenancyv1.ConditionDatabaseReady)).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonUnknownDatabaseServer),
			HaveField("Message", SatisfyAll(ContainSubstring("mars-1"), ContainSubstring("(eu-1, eu-s3)")))))
		Eventually(func() tenancyv1.WorkspacePhase { return getWS(name).Status.Phase }).Should(Equal(tenancyv1.WorkspaceFailed))
		Expect(getWS(name).Status.ObservedGeneration).To(BeZero())
		deleteAndWait(name)
	})
})

var _ = Describe("Workspace deletion", func() {
	It("leaves zero residue with deletionPolicy Delete", func() {
		name := uniqueName("del")
		createReady(newWorkspace(name))
		deleteAndWait(name)
		expectZeroResidue(name)

		By("recording a receipt")
		Expect(receiptOf(name)).To(SatisfyAll(
			ContainSubstring(`"databaseDropped": true`), ContainSubstring(`"vaultDataDestroyed": true`),
			ContainSubstring(`"transitKeyShredded": true`)))
	})

	It("keeps the database and Vault data with deletionPolicy Retain", func() {
		name := uniqueName("retain")
		ws := newWorkspace(name)
		ws.Spec.DeletionPolicy = tenancyv1.DeletionPolicyRetain
		createReady(ws)
		deleteAndWait(name)

		db, role := pgExists(dbName(name))
		Expect(db).To(BeTrue())
		Expect(role).To(BeTrue())
		Expect(vaultKV("workspaces/" + name + "/database")).To(HaveKey("dsn"))
		Expect(vaultExists("transit/keys/ws-" + name + "-" + string(ws.UID))).To(BeTrue())
		Expect(vaultExists("sys/policies/acl/ws-"+name)).To(BeFalse(), "the runtime's policy goes with the runtime")
		Expect(vaultExists("auth/kubernetes/role/ws-" + name)).To(BeFalse())
		Eventually(func() []string { return eventsOf(name) }).Should(ContainElement(HavePrefix(tenancyv1.EventDataRetained)))
	})

	It("blocks deletion under legalHold until the hold is lifted", func() {
		name := uniqueName("hold")
		ws := newWorkspace(name)
		ws.Spec.LegalHold = true
		createReady(ws)
		Expect(k8s.Delete(bg, getWS(name))).To(Succeed())
		Eventually(condition(name, tenancyv1.ConditionDeleting)).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonLegalHold))
		Consistently(func() bool {
			db, _ := pgExists(dbName(name))
			return db && vaultKV("workspaces/"+name+"/database") != nil
		}, 2*time.Second).Should(BeTrue())
		Expect(getWS(name).Status.Phase).To(Equal(tenancyv1.WorkspaceDeleting))
		Eventually(func() []string { return eventsOf(name) }).Should(ContainElement(HavePrefix(tenancyv1.EventDeletionBlocked)))

		update(ws, func(ws *tenancyv1.Workspace) { ws.Spec.LegalHold = false })
		Eventually(func() bool {
			return errorsIsNotFound(k8s.Get(bg, client.ObjectKey{Name: name}, &tenancyv1.Workspace{}))
		}).Should(BeTrue())
		expectZeroResidue(name)
	})

	It("marks the workspace's backups to expire afterDeletion and keeps the transit key for them", func() {
		name := uniqueName("bk")
		policy := &tenancyv1.RetentionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       tenancyv1.RetentionPolicySpec{Backups: tenancyv1.BackupRetention{AfterDeletion: "7d"}},
		}
		Expect(k8s.Create(bg, policy)).To(Succeed())
		ws := newWorkspace(name)
		ws.Spec.RetentionPolicyRef = &tenancyv1.LocalObjectReference{Name: name}
		createReady(ws)
		uid := string(getWS(name).UID)
		bk := &tenancyv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: name + "-1"}, Spec: tenancyv1.BackupSpec{Workspace: name}}
		Expect(k8s.Create(bg, bk)).To(Succeed())
		Eventually(func() error { return k8s.Get(bg, client.ObjectKeyFromObject(bk), &tenancyv1.Backup{}) }).Should(Succeed())

		deleteAndWait(name)
		Expect(k8s.Get(bg, client.ObjectKeyFromObject(bk), bk)).To(Succeed())
		Expect(bk.Status.ExpiresAt).NotTo(BeNil())
		Expect(bk.Status.ExpiresAt.Sub(bk.Status.WorkspaceDeletedAt.Time)).To(BeNumerically("~", 7*24*time.Hour, time.Second))
		Expect(vaultExists("transit/keys/ws-" + name + "-" + uid)).To(BeTrue())
		Expect(bk.Status.WorkspaceUID).To(Equal(uid))
		Expect(bk.Status.TransitKey).To(Equal("ws-" + name + "-" + uid))
		db, _ := pgExists(dbName(name))
		Expect(db).To(BeFalse())
	})

	It("keeps the afterDeletion deadline on a backup that was running when the workspace was deleted", func() {
		name := uniqueName("bkrun")
		policy := &tenancyv1.RetentionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       tenancyv1.RetentionPolicySpec{Backups: tenancyv1.BackupRetention{AfterDeletion: "7d"}},
		}
		Expect(k8s.Create(bg, policy)).To(Succeed())
		DeferCleanup(func() { _ = client.IgnoreNotFound(k8s.Delete(bg, policy)) })
		ws := newWorkspace(name)
		ws.Spec.RetentionPolicyRef = &tenancyv1.LocalObjectReference{Name: name}
		createReady(ws)

		By("holding the backup's run just before its dump")
		started, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		backupHooks.set(&backupHooks.dump, func(ctx context.Context, backup string) {
			if backup != name+"-run" {
				return
			}
			once.Do(func() { close(started) })
			select {
			case <-release:
			case <-ctx.Done():
			}
		})
		var releaseOnce sync.Once
		DeferCleanup(func() { releaseOnce.Do(func() { close(release) }) })
		bk := &tenancyv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: name + "-run"}, Spec: tenancyv1.BackupSpec{Workspace: name}}
		Expect(k8s.Create(bg, bk)).To(Succeed())
		DeferCleanup(func() { _ = client.IgnoreNotFound(k8s.Delete(bg, bk)) })
		Eventually(started, time.Minute).Should(BeClosed())

		By("deleting the workspace while the run holds the backup")
		deleteAndWait(name)
		Expect(k8s.Get(bg, client.ObjectKeyFromObject(bk), bk)).To(Succeed())
		Expect(bk.Status.Phase).To(Equal(tenancyv1.BackupRunning))
		Expect(bk.Status.WorkspaceDeletedAt).NotTo(BeNil())
		deletedAt := bk.Status.WorkspaceDeletedAt.Time

		By("the run ends (its database is gone) and writes its status: the deletion's marks stay")
		releaseOnce.Do(func() { close(release) })
		Eventually(backupPhase(bk.Name), time.Minute).Should(Equal(tenancyv1.BackupFailed))
		Consistently(func(g Gomega) {
			got := &tenancyv1.Backup{}
			g.Expect(k8s.Get(bg, client.ObjectKeyFromObject(bk), got)).To(Succeed())
			g.Expect(got.Status.WorkspaceDeletedAt).NotTo(BeNil())
			g.Expect(got.Status.ExpiresAt).NotTo(BeNil())
			g.Expect(got.Status.ExpiresAt.Sub(deletedAt)).To(BeNumerically("~", 7*24*time.Hour, time.Second),
				"the backup expires afterDeletion (7d) after the deletion, not retainFor (30d) after it was taken")
		}, 2*time.Second).Should(Succeed())
	})

	It("converges after the operator stops partway through a deletion", func() {
		name := uniqueName("crash")
		createReady(newWorkspace(name))

		By("stopping the operator once the database is dropped, before Vault is cleaned")
		reached := make(chan struct{})
		stopManager()
		hookOnce := false
		deletionHook = func(ctx context.Context, ws, step string) {
			if ws == name && strings.HasPrefix(step, "destroying Vault") && !hookOnce {
				hookOnce = true
				close(reached)
				// Held here until the operator's stop cancels this pass, as a
				// crash would end it: no later step may run.
				<-ctx.Done()
			}
		}
		startManager()
		Expect(k8s.Delete(bg, getWS(name))).To(Succeed())
		Eventually(reached).Should(BeClosed())
		mgrCancel()
		<-mgrDone
		mgrCancel = nil
		deletionHook = nil

		By("seeing the half-done state")
		db, role := pgExists(dbName(name))
		Expect(db || role).To(BeFalse())
		Expect(vaultKV("workspaces/" + name + "/database")).NotTo(BeNil())
		Expect(getWS(name).Finalizers).To(ContainElement(tenancyv1.WorkspaceFinalizer))

		By("starting a new operator, which finishes the job")
		startManager()
		Eventually(func() bool {
			return errorsIsNotFound(k8s.Get(bg, client.ObjectKey{Name: name}, &tenancyv1.Workspace{}))
		}).Should(BeTrue())
		expectZeroResidue(name)
	})
})

var _ = Describe("Dependency outages", Serial, func() {
	It("reports Postgres being down and recovers when it is back", func() {
		name := uniqueName("pgdown")
		pg.Stop()
		restarted := false
		DeferCleanup(func() {
			if !restarted {
				Expect(pg.Start()).To(Succeed())
			}
		})
		Expect(k8s.Create(bg, newWorkspace(name))).To(Succeed())
		Eventually(condition(name, tenancyv1.ConditionDatabaseReady)).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonDatabaseUnreachable),
			HaveField("Message", ContainSubstring("eu-1 is unreachable"))))
		Expect(condition(name, tenancyv1.ConditionReady)()).To(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonDatabaseUnreachable))
		Expect(condition(name, tenancyv1.ConditionNamespaceReady)()).To(haveStatus(metav1.ConditionTrue, ""))

		Expect(pg.Start()).To(Succeed())
		restarted = true
		Eventually(condition(name, tenancyv1.ConditionDatabaseReady)).Should(haveStatus(metav1.ConditionTrue, ""))
		rollOut(name)
		Eventually(condition(name, tenancyv1.ConditionReady)).Should(haveStatus(metav1.ConditionTrue, ""))
		deleteAndWait(name)
	})

	It("reports Vault being down, and rebuilds what an empty Vault lost when it is back", func() {
		name := uniqueName("vaultdown")
		createReady(newWorkspace(name))
		oldPassword := vaultKV("workspaces/" + name + "/database")["password"].(string)

		vaultSrv.Stop()
		restarted := false
		DeferCleanup(func() {
			if !restarted {
				Expect(vaultSrv.Start()).To(Succeed())
			}
		})
		touch(getWS(name))
		Eventually(condition(name, tenancyv1.ConditionVaultReady)).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonVaultUnreachable))
		Expect(condition(name, tenancyv1.ConditionReady)()).To(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonVaultUnreachable))
		Expect(getWS(name).Status.Phase).To(Equal(tenancyv1.WorkspaceProvisioning))

		By("restarting Vault, which comes back empty (dev mode keeps nothing)")
		Expect(vaultSrv.Start()).To(Succeed())
		restarted = true
		Eventually(condition(name, tenancyv1.ConditionReady), 60*time.Second).Should(haveStatus(metav1.ConditionTrue, ""))
		Expect(vaultExists("sys/policies/acl/ws-" + name)).To(BeTrue())
		Expect(vaultExists("auth/kubernetes/role/ws-" + name)).To(BeTrue())
		creds := vaultKV("workspaces/" + name + "/database")
		Expect(creds["password"]).NotTo(Equal(oldPassword), "the lost password was replaced")
		conn, err := pgx.Connect(bg, creds["dsn"].(string))
		Expect(err).NotTo(HaveOccurred())
		conn.Close(bg)
		Eventually(func() []string { return eventsOf(name) }).Should(ContainElement(HavePrefix(tenancyv1.EventPasswordRotated)))
		deleteAndWait(name)
	})
})

// expectZeroResidue checks Postgres, Vault and Kubernetes for anything left of a workspace.
func expectZeroResidue(name string) {
	GinkgoHelper()
	db, role := pgExists(dbName(name))
	Expect(db).To(BeFalse(), "database left behind")
	Expect(role).To(BeFalse(), "role left behind")
	list, err := rootVault().Logical().List("switchboard/metadata/workspaces/" + name)
	Expect(err).NotTo(HaveOccurred())
	Expect(list).To(BeNil(), "Vault subtree left behind")
	Expect(vaultExists("sys/policies/acl/ws-"+name)).To(BeFalse(), "policy left behind")
	Expect(vaultExists("auth/kubernetes/role/ws-"+name)).To(BeFalse(), "auth role left behind")
	keys, err := rootVault().Logical().List("transit/keys")
	Expect(err).NotTo(HaveOccurred())
	if keys != nil {
		Expect(keys.Data["keys"]).NotTo(ContainElement(HavePrefix("ws-"+name+"-")), "transit key left behind")
	}
	Expect(vaultExists("switchboard/data/workspaces/"+name)).To(BeFalse(), "the subtree's ownership mark left behind")
	ns := &corev1.Namespace{}
	err = k8s.Get(bg, client.ObjectKey{Name: "ws-" + name}, ns)
	// envtest runs no namespace controller: a deleted namespace stays Terminating.
	Expect(errorsIsNotFound(err) || !ns.DeletionTimestamp.IsZero()).To(BeTrue(), "namespace not deleted")
}

func kindName(o client.Object) string {
	return toTypeName(o) + "/" + o.GetNamespace() + "/" + o.GetName()
}
