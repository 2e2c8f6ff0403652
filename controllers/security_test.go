package controllers_test

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
)

// The attacks of docs/security.md, each against the real API server,
// PostgreSQL and Vault.
var _ = Describe("Tenant ownership", func() {
	It("hands out nothing for a squatted namespace, and provisions once it is gone", func() {
		name := uniqueName("squat")
		ns := "ws-" + name
		By("a user who may create namespaces pre-creating ws-<name> with a runtime ServiceAccount and forged labels")
		Expect(k8s.Create(bg, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
			tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelWorkspace: name}}})).To(Succeed())
		Expect(k8s.Create(bg, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "runtime", Labels: map[string]string{
			tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, tenancyv1.LabelWorkspace: name}}})).To(Succeed())

		external := writes.total()
		Expect(k8s.Create(bg, newWorkspace(name))).To(Succeed())
		Eventually(condition(name, tenancyv1.ConditionReady)).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonNamespaceConflict),
			HaveField("Message", ContainSubstring("Namespace "+ns))))
		Expect(condition(name, tenancyv1.ConditionVaultReady)()).To(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonNamespaceConflict))
		Expect(condition(name, tenancyv1.ConditionDatabaseReady)()).To(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonWaitingForDependencies))
		Expect(getWS(name).Status.Phase).To(Equal(tenancyv1.WorkspaceFailed))

		By("writing nothing to Vault or PostgreSQL for it")
		settle(name)
		for _, w := range writes.since(external) {
			Expect(w).NotTo(ContainSubstring(name), "wrote for a squatted workspace: %s", w)
		}
		Expect(vaultExists("auth/kubernetes/role/" + ns)).To(BeFalse())
		Expect(vaultExists("sys/policies/acl/" + ns)).To(BeFalse())
		Expect(vaultKV("workspaces/" + name + "/database")).To(BeNil())
		db, role := pgExists(dbName(name))
		Expect(db || role).To(BeFalse())
		Expect(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "initial-owner"}, &corev1.Secret{})).NotTo(Succeed())

		By("provisioning once the squatter's namespace is gone")
		forceDeleteNamespace(ns)
		Eventually(condition(name, tenancyv1.ConditionDatabaseReady), 60*time.Second).Should(haveStatus(metav1.ConditionTrue, ""))
		rollOut(name)
		Eventually(condition(name, tenancyv1.ConditionReady)).Should(haveStatus(metav1.ConditionTrue, ""))
		deleteAndWait(name)
	})

	It("revokes Vault access when ws-<name> becomes someone else's, and rotates the password once it is back", func() {
		name := uniqueName("resquat")
		ns := "ws-" + name
		createReady(newWorkspace(name))
		oldDSN := vaultKV("workspaces/" + name + "/database")["dsn"].(string)
		held, err := pgx.Connect(bg, oldDSN)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { held.Close(bg) })

		By("the namespace going, and a stranger creating ws-<name> again with a runtime ServiceAccount before the operator does")
		stopManager()
		forceDeleteNamespace(ns)
		Expect(k8s.Create(bg, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		Expect(k8s.Create(bg, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "runtime"}})).To(Succeed())
		startManager()
		Eventually(condition(name, tenancyv1.ConditionReady)).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonNamespaceConflict))

		By("leaving the stranger's ServiceAccount no way into Vault or the database")
		Eventually(func() bool { return vaultExists("auth/kubernetes/role/" + ns) }).Should(BeFalse())
		Expect(vaultExists("sys/policies/acl/" + ns)).To(BeFalse())
		Expect(vaultKV("workspaces/" + name + "/database")).To(BeNil())
		jwt := runtimeToken(ns)
		_, err = rootVaultNoToken().Logical().Write("auth/kubernetes/login", map[string]any{"role": ns, "jwt": jwt})
		Expect(err).To(HaveOccurred(), "the stranger's ServiceAccount logged in to Vault")
		_, err = pgx.Connect(bg, oldDSN)
		Expect(err).To(HaveOccurred(), "the exposed password still opens the database")
		Expect(held.Ping(bg)).NotTo(Succeed(), "a session opened with the exposed password survived")
		Eventually(func() []string { return eventsOf(name) }).Should(ContainElement(HavePrefix(tenancyv1.EventAccessRevoked)))

		By("rotating the password once the namespace is the workspace's again")
		forceDeleteNamespace(ns)
		Eventually(condition(name, tenancyv1.ConditionDatabaseReady), 60*time.Second).Should(haveStatus(metav1.ConditionTrue, ""))
		creds := vaultKV("workspaces/" + name + "/database")
		Expect(creds["dsn"]).NotTo(Equal(oldDSN))
		conn, err := pgx.Connect(bg, creds["dsn"].(string))
		Expect(err).NotTo(HaveOccurred())
		conn.Close(bg)
		Eventually(func() []string { return eventsOf(name) }).Should(ContainElement(HavePrefix(tenancyv1.EventPasswordRotated)))
		deleteAndWait(name)
	})

	It("never gives a retained workspace's data to a new Workspace of the same name, unless told to adopt it", func() {
		name := uniqueName("reuse")
		old := newWorkspace(name)
		old.Spec.DeletionPolicy = tenancyv1.DeletionPolicyRetain
		createReady(old)
		oldUID := string(old.UID)
		oldCreds := vaultKV("workspaces/" + name + "/database")
		deleteAndWait(name)
		forceDeleteNamespace("ws-" + name)

		By("creating a Workspace of the same name, for someone else")
		external := writes.total()
		Expect(k8s.Create(bg, newWorkspace(name))).To(Succeed())
		Eventually(condition(name, tenancyv1.ConditionVaultReady)).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonOwnershipConflict),
			HaveField("Message", ContainSubstring(oldUID))))
		Eventually(condition(name, tenancyv1.ConditionDatabaseReady)).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonOwnershipConflict),
			HaveField("Message", ContainSubstring("role "+dbName(name)))))
		Expect(condition(name, tenancyv1.ConditionReady)()).To(HaveField("Status", metav1.ConditionFalse))
		settle(name)
		for _, w := range writes.since(external) {
			Expect(w).NotTo(ContainSubstring(name), "wrote to the retained data: %s", w)
		}
		Expect(vaultExists("sys/policies/acl/ws-"+name)).To(BeFalse(), "no policy may grant the old subtree")
		Expect(vaultKV("workspaces/" + name + "/database")).To(Equal(oldCreds))
		conn, err := pgx.Connect(bg, oldCreds["dsn"].(string))
		Expect(err).NotTo(HaveOccurred(), "the retained role's password was changed")
		conn.Close(bg)

		By("deleting the newcomer without touching the retained data")
		deleteAndWait(name)
		db, role := pgExists(dbName(name))
		Expect(db && role).To(BeTrue())
		Expect(vaultKV("workspaces/" + name + "/database")).To(Equal(oldCreds))
		forceDeleteNamespace("ws-" + name)

		By("adopting it when the annotation names the old UID")
		adopter := newWorkspace(name)
		adopter.Annotations = map[string]string{tenancyv1.AnnotationAdoptDataFrom: oldUID}
		createReady(adopter)
		Expect(vaultKV("workspaces/" + name + "/database")["dsn"]).To(Equal(oldCreds["dsn"]))
		var comment string
		Expect(pgAdmin(`SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, dbName(name)).Scan(&comment)).To(Succeed())
		Expect(comment).To(ContainSubstring(string(adopter.UID)))
		deleteAndWait(name)
		By("keeping the old transit key, which is not adopted: it stays with the old Workspace's backups")
		Expect(vaultExists("transit/keys/ws-" + name + "-" + oldUID)).To(BeTrue())
		_, err = rootVault().Logical().Delete("transit/keys/ws-" + name + "-" + oldUID)
		Expect(err).NotTo(HaveOccurred())
		expectZeroResidue(name)
	})

	It("never adopts or drops a role or database it did not make, nor a privileged role", func() {
		name := uniqueName("foreign")
		db := dbName(name)
		By("someone else's role and database of the workspace's name")
		pgAdminExec(`CREATE ROLE ` + db + ` LOGIN PASSWORD 'theirs-pw-123'`)
		pgAdminExec(`CREATE DATABASE ` + db + ` OWNER ` + db)
		Expect(k8s.Create(bg, newWorkspace(name))).To(Succeed())
		Eventually(condition(name, tenancyv1.ConditionDatabaseReady)).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonOwnershipConflict),
			HaveField("Message", ContainSubstring("carries no ownership mark"))))
		Expect(vaultKV("workspaces/" + name + "/database")).To(BeNil())
		conn, err := pgx.Connect(bg, pg.DSN(db, "theirs-pw-123", db))
		Expect(err).NotTo(HaveOccurred(), "their password was changed")
		conn.Close(bg)
		deleteAndWait(name)
		d, r := pgExists(db)
		Expect(d && r).To(BeTrue(), "someone else's database or role was dropped")
		receipt := receiptOf(name)
		Expect(receipt).To(ContainSubstring("role " + db + " on server eu-1 exists and was not made by Switchboard"))
		pgAdminExec(`DROP DATABASE ` + db)
		pgAdminExec(`DROP ROLE ` + db)
		forceDeleteNamespace("ws-" + name)

		for _, grant := range []string{"ALTER ROLE %s CREATEROLE", "ALTER ROLE %s BYPASSRLS", "GRANT pg_read_all_data TO %s"} {
			name := uniqueName("priv")
			By("refusing our own role once it has been given: " + grant)
			createReady(newWorkspace(name))
			pgAdminExec(strings.ReplaceAll(grant, "%s", dbName(name)))
			touch(getWS(name))
			Eventually(condition(name, tenancyv1.ConditionDatabaseReady)).Should(SatisfyAll(
				haveStatus(metav1.ConditionFalse, tenancyv1.ReasonOwnershipConflict),
				HaveField("Message", ContainSubstring("a tenant role must never have"))))
			deleteAndWait(name)
		}
	})

	It("keeps a tenant role to its own database, under a connection limit and a statement timeout", func() {
		a, b := uniqueName("lim-a"), uniqueName("lim-b")
		for _, n := range []string{a, b} {
			Expect(k8s.Create(bg, newWorkspace(n))).To(Succeed())
		}
		for _, n := range []string{a, b} {
			Eventually(condition(n, tenancyv1.ConditionDatabaseReady)).Should(haveStatus(metav1.ConditionTrue, ""))
		}
		creds := vaultKV("workspaces/" + a + "/database")
		user, pw := creds["username"].(string), creds["password"].(string)
		for _, other := range []string{dbName(b), "postgres", "template1"} {
			_, err := pgx.Connect(bg, pg.DSN(user, pw, other))
			var pgErr *pgconn.PgError
			Expect(errorsAs(err, &pgErr)).To(BeTrue(), "connecting to %s: %v", other, err)
			Expect(pgErr.Code).To(Equal("42501"), "connecting to %s", other)
		}

		conn, err := pgx.Connect(bg, creds["dsn"].(string))
		Expect(err).NotTo(HaveOccurred())
		var timeout, idle string
		Expect(conn.QueryRow(bg, "SELECT current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout')").Scan(&timeout, &idle)).To(Succeed())
		Expect(timeout).To(Equal("30s"))
		Expect(idle).To(Equal("1min"))
		conn.Close(bg)

		By("refusing connections past the plan's limit")
		var limit int
		Expect(pgAdmin(`SELECT rolconnlimit FROM pg_roles WHERE rolname = $1`, user).Scan(&limit)).To(Succeed())
		Expect(limit).To(Equal(25)) // starter: 1 replica + 1 surge pod, 10 each, and 5 spare
		var open []*pgx.Conn
		DeferCleanup(func() {
			for _, c := range open {
				c.Close(bg)
			}
		})
		for i := 0; i < limit; i++ {
			c, err := pgx.Connect(bg, creds["dsn"].(string))
			Expect(err).NotTo(HaveOccurred(), "connection %d of %d", i+1, limit)
			open = append(open, c)
		}
		_, err = pgx.Connect(bg, creds["dsn"].(string))
		var pgErr *pgconn.PgError
		Expect(errorsAs(err, &pgErr)).To(BeTrue(), "connection %d: %v", limit+1, err)
		Expect(pgErr.Code).To(Equal("53300")) // too_many_connections
	})

	It("gives a host to one Workspace only", func() {
		a, b := uniqueName("host-a"), uniqueName("host-b")
		host := a + ".shared.test.example"
		wa := newWorkspace(a)
		wa.Spec.Host = host
		createReady(wa)
		wb := newWorkspace(b)
		wb.Spec.Host = host
		Expect(k8s.Create(bg, wb)).To(Succeed())
		Eventually(condition(b, tenancyv1.ConditionReady)).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonHostConflict),
			HaveField("Message", ContainSubstring("host "+host+" is already served by Workspace "+a))))
		Consistently(func() error {
			return k8s.Get(bg, client.ObjectKey{Namespace: "ws-" + b, Name: "runtime"}, &networkingv1.Ingress{})
		}, 2*time.Second).ShouldNot(Succeed(), "the second claimant got an Ingress")

		By("handing the host over when its holder is gone")
		deleteAndWait(a)
		Eventually(func() error {
			return k8s.Get(bg, client.ObjectKey{Namespace: "ws-" + b, Name: "runtime"}, &networkingv1.Ingress{})
		}).Should(Succeed())
		rollOut(b)
		Eventually(condition(b, tenancyv1.ConditionReady)).Should(haveStatus(metav1.ConditionTrue, ""))
		deleteAndWait(b)
	})

	It("trusts no initial-owner Secret it did not make", func() {
		name := uniqueName("owner")
		ns := "ws-" + name
		createReady(newWorkspace(name))
		By("someone with write access to the namespace planting a Secret with a password they know")
		Expect(k8s.Delete(bg, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "initial-owner"}})).To(Succeed())
		_, err := rootVault().Logical().Delete("switchboard/metadata/workspaces/" + name + "/bootstrap")
		Expect(err).NotTo(HaveOccurred())
		Expect(k8s.Create(bg, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "initial-owner"},
			StringData: map[string]string{"password": "planted-password"}})).To(Succeed())
		touch(getWS(name))
		Eventually(condition(name, tenancyv1.ConditionOwnerReady)).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonNamespaceConflict),
			HaveField("Message", ContainSubstring("was not made by the operator"))))
		Consistently(func() map[string]any { return vaultKV("workspaces/" + name + "/bootstrap") }, 2*time.Second).Should(BeNil())
		deleteAndWait(name)
	})

	It("removes the Vault identity the runtime's logins created", func() {
		name := uniqueName("ident")
		ns := "ws-" + name
		createReady(newWorkspace(name))
		jwt := runtimeToken(ns)
		Eventually(func() error {
			_, err := rootVaultNoToken().Logical().Write("auth/kubernetes/login", map[string]any{"role": ns, "jwt": jwt})
			return err
		}).Should(Succeed())
		entity := func() string {
			auths, err := rootVault().Sys().ListAuth()
			Expect(err).NotTo(HaveOccurred())
			s, err := rootVault().Logical().Write("identity/lookup/entity", map[string]any{
				"alias_name": ns + "/runtime", "alias_mount_accessor": auths["kubernetes/"].Accessor})
			Expect(err).NotTo(HaveOccurred())
			if s == nil {
				return ""
			}
			return s.Data["id"].(string)
		}
		Expect(entity()).NotTo(BeEmpty(), "the login made no entity with alias %s/runtime", ns)
		deleteAndWait(name)
		Expect(entity()).To(BeEmpty(), "the runtime's entity outlived the workspace")
	})
})

var _ = Describe("Integrations of a workspace being deleted", func() {
	It("never write to Vault once the workspace's deletion has begun", func() {
		name := uniqueName("race")
		ns := "ws-" + name
		createReady(newWorkspace(name))
		Expect(k8s.Create(bg, telnyxSecret(ns, "telnyx", "key-1"))).To(Succeed())
		Expect(k8s.Create(bg, telnyxIntegration(ns, "sms", "telnyx"))).To(Succeed())
		Eventually(func() map[string]any { return vaultKV("workspaces/" + name + "/integrations/sms") }).ShouldNot(BeNil())

		By("holding the deletion once the subtree is destroyed, while the namespace still exists")
		held := make(chan struct{})
		release := make(chan struct{})
		deletionHook = func(ctx context.Context, ws, step string) {
			if ws == name && strings.HasPrefix(step, "deleting Vault policy") {
				select {
				case <-held:
				default:
					close(held)
				}
				select {
				case <-release:
				case <-ctx.Done():
				}
			}
		}
		DeferCleanup(func() { deletionHook = nil })
		Expect(k8s.Delete(bg, getWS(name))).To(Succeed())
		Eventually(held).Should(BeClosed())
		Expect(vaultKV("workspaces/" + name + "/integrations/sms")).To(BeNil())
		Expect(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "sms"}, &tenancyv1.Integration{})).NotTo(Succeed(),
			"the workspace's Integrations are gone before its subtree is destroyed")

		By("a new Integration and Secret appearing in the namespace meanwhile")
		Expect(k8s.Create(bg, telnyxSecret(ns, "telnyx-2", "key-2"))).To(Succeed())
		Expect(k8s.Create(bg, telnyxIntegration(ns, "sms-2", "telnyx-2"))).To(Succeed())
		Eventually(func() string {
			in := &tenancyv1.Integration{}
			if err := k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "sms-2"}, in); err != nil {
				return err.Error()
			}
			if c := meta.FindStatusCondition(in.Status.Conditions, tenancyv1.ConditionReady); c != nil {
				return c.Reason
			}
			return ""
		}).Should(Equal(tenancyv1.ReasonWorkspaceDeleting))
		Consistently(func() []string {
			l, _ := rootVault().Logical().List("switchboard/metadata/workspaces/" + name + "/integrations")
			if l == nil {
				return nil
			}
			return []string{toJSON(l.Data)}
		}, 2*time.Second).Should(BeEmpty(), "an Integration wrote into the destroyed subtree")
		close(release)
		Eventually(func() bool {
			return errorsIsNotFound(k8s.Get(bg, client.ObjectKey{Name: name}, &tenancyv1.Workspace{}))
		}).Should(BeTrue())
		expectZeroResidue(name)
	})
})
