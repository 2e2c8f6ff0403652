package controllers_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver, for goose
	"github.com/minio/minio-go/v7"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers"
	"github.com/switchboard-dev/switchboard/controllers/backup/cli"
	"github.com/switchboard-dev/switchboard/controllers/config"
	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/privacy"
	"github.com/switchboard-dev/switchboard/test/harness"
)

var metricsGather = metrics.Registry.Gather

// seedTenant creates two tables in the workspace's database, as its own
// role (so pg_dump, run as that role, can read them), with n contacts and
// two messages each.
func seedTenant(ws string, n int) {
	GinkgoHelper()
	withTenantDB(ws, func(conn *pgx.Conn) {
		_, err := conn.Exec(bg, `
CREATE TABLE IF NOT EXISTS contacts (id bigserial PRIMARY KEY, email text NOT NULL, name text);
CREATE TABLE IF NOT EXISTS messages (id bigserial PRIMARY KEY, contact_id bigint REFERENCES contacts(id), body text);`)
		Expect(err).NotTo(HaveOccurred())
		_, err = conn.Exec(bg, `
WITH c AS (INSERT INTO contacts (email, name)
	SELECT 'person-' || g || '@customer.example', 'Person ' || g FROM generate_series(1, $1) g RETURNING id)
INSERT INTO messages (contact_id, body) SELECT id, 'hello from contact ' || id || ', part ' || p FROM c, generate_series(1, 2) p`, n)
		Expect(err).NotTo(HaveOccurred())
	})
}

// withTenantDB runs f connected to the workspace's database as the
// superuser acting as the tenant's role.
func withTenantDB(ws string, f func(conn *pgx.Conn)) {
	GinkgoHelper()
	conn, err := pgx.Connect(bg, pg.DSN("postgres", "", dbName(ws)))
	Expect(err).NotTo(HaveOccurred())
	defer conn.Close(bg)
	_, err = conn.Exec(bg, "SET ROLE "+pgx.Identifier{dbName(ws)}.Sanitize())
	Expect(err).NotTo(HaveOccurred())
	f(conn)
}

// tenantCount counts the rows of a table of the workspace's database.
func tenantCount(ws, table string) int64 {
	GinkgoHelper()
	var n int64
	withTenantDB(ws, func(conn *pgx.Conn) {
		Expect(conn.QueryRow(bg, "SELECT count(*) FROM "+table).Scan(&n)).To(Succeed())
	})
	return n
}

func newBackup(ws string, verify bool) *tenancyv1.Backup {
	return &tenancyv1.Backup{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("bk-" + ws)},
		Spec:       tenancyv1.BackupSpec{Workspace: ws, Reason: tenancyv1.BackupReasonManual, Verify: verify},
	}
}

func getBackup(name string) *tenancyv1.Backup {
	GinkgoHelper()
	b := &tenancyv1.Backup{}
	Expect(k8s.Get(bg, client.ObjectKey{Name: name}, b)).To(Succeed())
	return b
}

func backupPhase(name string) func() tenancyv1.BackupPhase {
	return func() tenancyv1.BackupPhase {
		b := &tenancyv1.Backup{}
		if err := k8s.Get(bg, client.ObjectKey{Name: name}, b); err != nil {
			return "<" + tenancyv1.BackupPhase(err.Error()) + ">"
		}
		return b.Status.Phase
	}
}

func backupCondition(name, condType string) func() *metav1.Condition {
	return func() *metav1.Condition {
		b := &tenancyv1.Backup{}
		if err := k8s.Get(bg, client.ObjectKey{Name: name}, b); err != nil {
			return nil
		}
		return meta.FindStatusCondition(b.Status.Conditions, condType)
	}
}

// backupsState lists every Workspace and Backup with phase and conditions,
// for a failure message: a backup that does not run is often waiting on
// another one.
func backupsState() string {
	var b strings.Builder
	wss := &tenancyv1.WorkspaceList{}
	if err := k8s.List(bg, wss); err != nil {
		return err.Error()
	}
	for _, ws := range wss.Items {
		fmt.Fprintf(&b, "workspace %s deleting=%v backups=%+v\n", ws.Name, ws.DeletionTimestamp != nil, ws.Status.Backups)
	}
	bs := &tenancyv1.BackupList{}
	if err := k8s.List(bg, bs); err != nil {
		return err.Error()
	}
	for _, x := range bs.Items {
		fmt.Fprintf(&b, "backup %s phase=%s", x.Name, x.Status.Phase)
		for _, c := range x.Status.Conditions {
			fmt.Fprintf(&b, " %s=%s/%s %q", c.Type, c.Status, c.Reason, c.Message)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func backupGone(name string) func() bool {
	return func() bool { return errorsIsNotFound(k8s.Get(bg, client.ObjectKey{Name: name}, &tenancyv1.Backup{})) }
}

// takeBackup creates a Manual backup and waits until it is Completed.
func takeBackup(ws string, verify bool) *tenancyv1.Backup {
	GinkgoHelper()
	b := newBackup(ws, verify)
	Expect(k8s.Create(bg, b)).To(Succeed())
	DeferCleanup(func() { _ = client.IgnoreNotFound(k8s.Delete(bg, b)) })
	Eventually(backupPhase(b.Name), time.Minute).Should(Equal(tenancyv1.BackupCompleted))
	return getBackup(b.Name)
}

// expiring waits until the expiry controller has given a Completed Backup
// its expiresAt, and returns it.
func expiring(name string) *tenancyv1.Backup {
	GinkgoHelper()
	Eventually(func() *metav1.Time { return getBackup(name).Status.ExpiresAt }).ShouldNot(BeNil())
	return getBackup(name)
}

// artifactPath is where the file store keeps a Backup's artifact.
func artifactPath(b *tenancyv1.Backup) string {
	return filepath.Join(fileStoreDir, filepath.FromSlash(b.Status.Artifact.Key))
}

// s3ArtifactPath is where versitygw keeps an eu-s3 Backup's artifact.
func s3ArtifactPath(b *tenancyv1.Backup) string {
	return filepath.Join(s3Srv.BucketDir("backups"), "tenants", filepath.FromSlash(b.Status.Artifact.Key))
}

// decrypt runs `switchboard backup decrypt` on an artifact with the root
// Vault token, and returns its exit status and what it printed.
func decrypt(artifactFile string) (int, []byte, string) {
	out := filepath.Join(GinkgoT().TempDir(), "dump")
	var stderr bytes.Buffer
	env := map[string]string{"VAULT_ADDR": vaultSrv.Addr(), "VAULT_TOKEN": harness.RootToken}
	code := cli.Run(bg, []string{"decrypt", "--in", artifactFile, "--out", out}, func(k string) string { return env[k] },
		strings.NewReader(""), &bytes.Buffer{}, &stderr)
	plain, _ := os.ReadFile(out)
	return code, plain, stderr.String()
}

func transitKeyExists(name string) bool {
	s, err := rootVault().Logical().Read("transit/keys/" + name)
	Expect(err).NotTo(HaveOccurred())
	return s != nil
}

// receiptConfigMap reads a ConfigMap of the receipts namespace.
func receiptConfigMap(name string) func() map[string]string {
	return func() map[string]string {
		cm := &corev1.ConfigMap{}
		if err := k8s.Get(bg, client.ObjectKey{Namespace: receiptsNamespace, Name: name}, cm); err != nil {
			return nil
		}
		return cm.Data
	}
}

// reverify clears a Backup's Verified condition, which asks for another
// verification restore.
func reverify(name string) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		b := getBackup(name)
		meta.RemoveStatusCondition(&b.Status.Conditions, tenancyv1.BackupConditionVerified)
		return k8s.Status().Update(bg, b)
	})).To(Succeed())
}

func newPolicy(mutate func(p *tenancyv1.RetentionPolicy)) *tenancyv1.RetentionPolicy {
	GinkgoHelper()
	p := &tenancyv1.RetentionPolicy{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("rp")}}
	mutate(p)
	Expect(k8s.Create(bg, p)).To(Succeed())
	DeferCleanup(func() { _ = k8s.Delete(bg, p) })
	return p
}

var _ = Describe("Backups", func() {
	It("takes a Manual backup into the file store, encrypted under the workspace's own transit key, and proves it with a verification restore", func() {
		name := uniqueName("bk")
		ws := newWorkspace(name)
		createReady(ws)
		DeferCleanup(deleteAndWait, name)
		seedTenant(name, 150)
		ws = getWS(name)

		b := expiring(takeBackup(name, true).Name)
		a := b.Status.Artifact
		Expect(a).NotTo(BeNil())
		Expect(a.Store).To(Equal("file://" + fileStoreDir))
		Expect(a.Key).To(Equal(name + "/" + string(ws.UID) + "/" + b.Name + ".sbk"))
		Expect(a.WrappedKey).To(HavePrefix("vault:v1:"))
		Expect(a.TransitKeyVersion).To(Equal(1))
		Expect(a.Tables).To(Equal(2))
		Expect(a.Rows).To(Equal(int64(450)))
		Expect(a.DumpedAt).NotTo(BeNil())
		Expect(b.Status.TransitKey).To(Equal(ws.TransitKeyName()))
		Expect(b.Status.WorkspaceUID).To(Equal(string(ws.UID)))
		Expect(b.Status.Size).To(MatchRegexp(`^[0-9.]+(B|KiB|MiB)$`))
		Expect(b.Status.Attempts).To(Equal(1))
		Expect(b.Status.ExpiresAt).NotTo(BeNil())
		Expect(b.Status.ExpiresAt.Sub(b.Status.CompletedAt.Time)).To(Equal(30 * 24 * time.Hour)) // no policy: the default retainFor
		Expect(b.Finalizers).To(ContainElement(tenancyv1.BackupFinalizer))

		By("the artifact in the store is what the status says, and holds no plaintext")
		raw, err := os.ReadFile(artifactPath(b))
		Expect(err).NotTo(HaveOccurred())
		Expect(int64(len(raw))).To(Equal(a.Size))
		sum := sha256.Sum256(raw)
		Expect(hex.EncodeToString(sum[:])).To(Equal(a.SHA256))
		Expect(string(raw)).NotTo(ContainSubstring("customer.example"))
		Expect(string(raw)).To(ContainSubstring(a.WrappedKey)) // the header carries the wrapped key

		By("switchboard backup decrypt turns it back into a pg_dump archive")
		code, plain, stderr := decrypt(artifactPath(b))
		Expect(code).To(Equal(0), stderr)
		Expect(plain).To(HavePrefix("PGDMP"))

		By("the verification restore matched every table's row count and left no scratch database")
		Eventually(backupCondition(b.Name, tenancyv1.BackupConditionVerified), time.Minute).Should(SatisfyAll(
			haveStatus(metav1.ConditionTrue, tenancyv1.BackupReasonRowCountsMatch),
			HaveField("Message", ContainSubstring("2 tables, 450 rows"))), func() string { return toJSON(getBackup(b.Name).Status.Conditions) })
		db, _ := pgExists(dbName(name) + "_verify")
		Expect(db).To(BeFalse())

		By("the Workspace names its last successful backup, and the metric has it")
		Eventually(func() string {
			st := getWS(name).Status.Backups
			if st == nil {
				return ""
			}
			return st.LastSuccessful
		}).Should(Equal(b.Name))
		Expect(backupMetric("switchboard_backup_last_success_timestamp_seconds", name)).To(BeNumerically("~", b.Status.CompletedAt.Unix(), 1))
		Expect(backupMetric("switchboard_backup_last_size_bytes", name)).To(Equal(float64(a.Size)))

		By("no secret is in the status or the events")
		password := vaultKV("workspaces/" + name + "/" + contract.EntryDatabase)[contract.DatabasePassword].(string)
		expectNoSecret([]string{password}, toJSON(getBackup(b.Name)), strings.Join(eventsOf(b.Name), "\n"))
	})

	It("schedules backups from the RetentionPolicy, keeps a server's backups in its own S3 bucket, and expires and purges them", func() {
		policy := newPolicy(func(p *tenancyv1.RetentionPolicy) {
			p.Spec.Backups = tenancyv1.BackupRetention{Schedule: "0 3 * * *", RetainFor: "2d", AfterDeletion: "1d"}
		})
		name := uniqueName("bks")
		ws := newWorkspace(name)
		ws.Spec.DatabaseServer = "eu-s3"
		ws.Spec.RetentionPolicyRef = &tenancyv1.LocalObjectReference{Name: policy.Name}
		createReady(ws)
		DeferCleanup(deleteAndWait, name)
		seedTenant(name, 20)
		ws = getWS(name)

		By("the next slot is the next 03:00 UTC")
		Eventually(condition(name, tenancyv1.ConditionBackupsScheduled)).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonScheduled))
		next := getWS(name).Status.Backups.NextScheduleTime.Time
		Expect(next.Hour()).To(Equal(3))
		Expect(next.Minute()).To(Equal(0))
		Expect(next.After(ws.CreationTimestamp.Time)).To(BeTrue())
		Expect(next.Sub(ws.CreationTimestamp.Time)).To(BeNumerically("<=", 24*time.Hour))

		By("when the slot comes, a Scheduled Backup is created and taken into eu-s3's bucket")
		testClock.Advance(time.Until(next) + time.Minute)
		touch(ws)
		scheduled := name + "-" + next.UTC().Format("20060102-1504")
		Eventually(backupPhase(scheduled), time.Minute).Should(Equal(tenancyv1.BackupCompleted))
		b := expiring(scheduled)
		DeferCleanup(func() { _ = client.IgnoreNotFound(k8s.Delete(bg, b)) })
		Expect(b.Spec.Reason).To(Equal(tenancyv1.BackupReasonScheduled))
		Expect(b.Status.Artifact.Store).To(Equal(s3Srv.StoreURL("backups", "tenants")))
		Expect(s3ArtifactPath(b)).To(BeAnExistingFile())
		Expect(filepath.Join(fileStoreDir, name)).NotTo(BeADirectory()) // residency: nothing in the default store
		By("the store's credentials are nowhere in the tenant's namespace or pods")
		var secrets corev1.SecretList
		Expect(k8s.List(bg, &secrets, client.InNamespace("ws-"+name))).To(Succeed())
		var deps appsv1.DeploymentList
		Expect(k8s.List(bg, &deps, client.InNamespace("ws-"+name))).To(Succeed())
		Expect(toJSON(secrets) + toJSON(deps)).NotTo(SatisfyAny(ContainSubstring(s3Srv.SecretKey), ContainSubstring(s3Srv.AccessKey), ContainSubstring("AWS_")))
		Expect(b.Status.ExpiresAt.Sub(b.Status.CompletedAt.Time)).To(Equal(48 * time.Hour))
		Eventually(func() *tenancyv1.WorkspaceBackupStatus { return getWS(name).Status.Backups }).Should(SatisfyAll(
			HaveField("LastSuccessful", scheduled),
			HaveField("LastScheduleTime.Time", BeTemporally("==", next)),
			HaveField("NextScheduleTime.Time", BeTemporally("==", next.Add(24*time.Hour)))))

		By("once expired, the artifact is purged from the bucket, proven gone, and the Backup removed")
		testClock.Advance(3 * 24 * time.Hour)
		touchIfThere(b)
		Eventually(backupGone(scheduled), time.Minute).Should(BeTrue())
		Expect(s3ArtifactPath(b)).NotTo(BeAnExistingFile())
		core, err := s3Srv.Client()
		Expect(err).NotTo(HaveOccurred())
		_, err = core.StatObject(bg, "backups", "tenants/"+b.Status.Artifact.Key, minio.StatObjectOptions{})
		Expect(minio.ToErrorResponse(err).Code).To(Equal("NoSuchKey"))
		receipt := chainEntry("backup.purged/" + string(b.UID))
		Expect(receipt).To(SatisfyAll(ContainSubstring(`"existed": true`), ContainSubstring("NotFound"),
			ContainSubstring("ListMultipartUploads"), Not(ContainSubstring(s3Srv.SecretKey))))
	})

	It("destroys the transit key when the last backup of a deleted workspace is purged, and records it in the deletion receipt", func() {
		policy := newPolicy(func(p *tenancyv1.RetentionPolicy) {
			p.Spec.Backups = tenancyv1.BackupRetention{Schedule: "0 3 * * *", RetainFor: "30d", AfterDeletion: "1d"}
		})
		name := uniqueName("bkd")
		ws := newWorkspace(name)
		ws.Spec.RetentionPolicyRef = &tenancyv1.LocalObjectReference{Name: policy.Name}
		createReady(ws)
		seedTenant(name, 5)
		ws = getWS(name)
		b1, b2 := takeBackup(name, false), takeBackup(name, false)

		deleteAndWait(name)
		By("the backups outlive the workspace, and so does the key that reads them")
		for _, b := range []*tenancyv1.Backup{b1, b2} {
			got := getBackup(b.Name)
			Expect(got.Status.WorkspaceDeletedAt).NotTo(BeNil())
			Expect(got.Status.ExpiresAt.Time).To(BeTemporally("~", got.Status.WorkspaceDeletedAt.Add(24*time.Hour), time.Second))
		}
		Expect(transitKeyExists(ws.TransitKeyName())).To(BeTrue())
		Expect(receiptOf(name)).To(ContainSubstring("kept to read 2 backups"))

		By("one expires: the key stays for the other")
		Expect(k8s.Delete(bg, b1)).To(Succeed())
		Eventually(backupGone(b1.Name)).Should(BeTrue())
		Expect(artifactPath(b1)).NotTo(BeAnExistingFile())
		Expect(transitKeyExists(ws.TransitKeyName())).To(BeTrue())

		By("the last expires (afterDeletion passed): the key is destroyed with it")
		testClock.Advance(2 * 24 * time.Hour)
		touchIfThere(b2)
		Eventually(backupGone(b2.Name), time.Minute).Should(BeTrue())
		Expect(artifactPath(b2)).NotTo(BeAnExistingFile())
		Expect(transitKeyExists(ws.TransitKeyName())).To(BeFalse())
		Expect(chainEntry("transitkey.destroyed/" + string(ws.UID))).To(SatisfyAll(ContainSubstring(ws.TransitKeyName()), ContainSubstring(b2.Name)))

		By("every act is in the receipt log, whose chain verifies")
		rep, err := receiptLog().Verify(bg)
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.OK()).To(BeTrue(), "%+v", rep.Broken)
		uid := string(ws.UID)
		for _, key := range []string{"database.dropped/" + uid, "vault.destroyed/" + uid, "workspace.deleted/" + uid, "backup.purged/" + string(b1.UID)} {
			Expect(chainEntry(key)).NotTo(BeEmpty(), key)
		}
	})

	It("keeps expired backups of a workspace under legal hold until the hold is lifted", func() {
		name := uniqueName("bkh")
		ws := newWorkspace(name)
		ws.Spec.LegalHold = true
		createReady(ws)
		DeferCleanup(deleteAndWait, name)
		b := takeBackup(name, false)

		testClock.Advance(31 * 24 * time.Hour)
		touch(b)
		Eventually(backupCondition(b.Name, tenancyv1.BackupConditionExpiryBlocked)).Should(haveStatus(metav1.ConditionTrue, tenancyv1.BackupReasonLegalHold))
		Consistently(backupGone(b.Name), 2*time.Second).Should(BeFalse())
		Expect(artifactPath(b)).To(BeAnExistingFile())

		update(getWS(name), func(ws *tenancyv1.Workspace) { ws.Spec.LegalHold = false })
		Eventually(backupGone(b.Name), time.Minute).Should(BeTrue())
		Expect(artifactPath(b)).NotTo(BeAnExistingFile())
	})

	It("shreds: with shredOnDelete the key is destroyed at deletion, the Backups become Shredded, their artifacts are purged, and a kept copy no longer decrypts", func() {
		policy := newPolicy(func(p *tenancyv1.RetentionPolicy) {
			p.Spec.Backups = tenancyv1.BackupRetention{Schedule: "0 3 * * *", RetainFor: "30d", AfterDeletion: "90d", ShredOnDelete: true}
		})
		name := uniqueName("bkx")
		ws := newWorkspace(name)
		ws.Spec.RetentionPolicyRef = &tenancyv1.LocalObjectReference{Name: policy.Name}
		createReady(ws)
		seedTenant(name, 5)
		ws = getWS(name)
		b := takeBackup(name, false)

		By("a copy made before the shred decrypts")
		stolen := filepath.Join(GinkgoT().TempDir(), "stolen.sbk")
		raw, err := os.ReadFile(artifactPath(b))
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(stolen, raw, 0o600)).To(Succeed())
		code, _, stderr := decrypt(stolen)
		Expect(code).To(Equal(0), stderr)

		deleteAndWait(name)
		Eventually(backupPhase(b.Name)).Should(Equal(tenancyv1.BackupShredded))
		Eventually(backupCondition(b.Name, tenancyv1.BackupConditionPurged)).Should(haveStatus(metav1.ConditionTrue, tenancyv1.BackupReasonPurged))
		Expect(artifactPath(b)).NotTo(BeAnExistingFile())
		Expect(transitKeyExists(ws.TransitKeyName())).To(BeFalse())
		Expect(receiptOf(name)).To(SatisfyAll(ContainSubstring(`"transitKeyShredded": true`), ContainSubstring(`"shredded": true`)))
		Expect(chainEntry("backup.purged/" + string(b.UID))).To(ContainSubstring(`"shredded": true`))

		By("the copy made before the shred no longer decrypts")
		code, plain, stderr := decrypt(stolen)
		Expect(code).To(Equal(1))
		Expect(plain).To(BeEmpty())
		Expect(stderr).To(ContainSubstring("shredded"))
	})

	It("refuses a tampered, a truncated and a wrong-key artifact, leaving nothing restored", func() {
		name := uniqueName("bkt")
		createReady(newWorkspace(name))
		DeferCleanup(deleteAndWait, name)
		seedTenant(name, 30)
		b := takeBackup(name, true)
		other := takeBackup(name, false)
		Eventually(backupCondition(b.Name, tenancyv1.BackupConditionVerified), time.Minute).Should(haveStatus(metav1.ConditionTrue, ""),
			func() string { return toJSON(getBackup(b.Name).Status.Conditions) })
		path := artifactPath(b)
		good, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		refused := func(what string) {
			GinkgoHelper()
			reverify(b.Name)
			Eventually(backupCondition(b.Name, tenancyv1.BackupConditionVerified), time.Minute).Should(haveStatus(metav1.ConditionFalse, tenancyv1.BackupReasonArtifactRejected),
				func() string { return what + ": " + toJSON(getBackup(b.Name).Status.Conditions) })
			db, _ := pgExists(dbName(name) + "_verify")
			Expect(db).To(BeFalse(), what+": the scratch database is dropped")
		}

		By("a flipped byte in the middle")
		tampered := bytes.Clone(good)
		tampered[len(tampered)/2] ^= 0x01
		Expect(os.WriteFile(path, tampered, 0o600)).To(Succeed())
		refused("tampered")

		By("the artifact cut in half")
		Expect(os.WriteFile(path, good[:len(good)/2], 0o600)).To(Succeed())
		refused("truncated")

		By("another backup's data key")
		Expect(os.WriteFile(path, good, 0o600)).To(Succeed())
		Expect(retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			got := getBackup(b.Name)
			got.Status.Artifact.WrappedKey = getBackup(other.Name).Status.Artifact.WrappedKey
			return k8s.Status().Update(bg, got)
		})).To(Succeed())
		refused("wrong key")
	})

	It("reports a store outage in a condition, and takes the backup once the store is back", func() {
		name := uniqueName("bko")
		ws := newWorkspace(name)
		ws.Spec.DatabaseServer = "eu-s3"
		createReady(ws)
		DeferCleanup(deleteAndWait, name)

		s3Srv.Stop()
		restarted := false
		DeferCleanup(func() {
			if !restarted {
				Expect(s3Srv.Start()).To(Succeed())
			}
		})
		b := newBackup(name, false)
		Expect(k8s.Create(bg, b)).To(Succeed())
		DeferCleanup(func() { _ = client.IgnoreNotFound(k8s.Delete(bg, b)) })
		Eventually(backupCondition(b.Name, tenancyv1.BackupConditionSucceeded)).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.BackupReasonStoreUnreachable),
			HaveField("Message", Not(ContainSubstring(s3Srv.SecretKey)))))
		Consistently(backupPhase(b.Name), 3*time.Second).Should(Equal(tenancyv1.BackupPending))

		Expect(s3Srv.Start()).To(Succeed())
		restarted = true
		Eventually(backupPhase(b.Name), time.Minute).Should(Equal(tenancyv1.BackupCompleted))
		Expect(getBackup(b.Name).Status.Attempts).To(Equal(1))
	})

	It("keeps a Backup whose artifact cannot be purged, says so, and purges it once the store is back", func() {
		name := uniqueName("bkp")
		ws := newWorkspace(name)
		ws.Spec.DatabaseServer = "eu-s3"
		createReady(ws)
		DeferCleanup(deleteAndWait, name)
		b := takeBackup(name, false)

		s3Srv.Stop()
		restarted := false
		DeferCleanup(func() {
			if !restarted {
				Expect(s3Srv.Start()).To(Succeed())
			}
		})
		Expect(k8s.Delete(bg, b)).To(Succeed())
		Eventually(backupCondition(b.Name, tenancyv1.BackupConditionPurged)).Should(haveStatus(metav1.ConditionFalse, tenancyv1.BackupReasonPurgeFailed))
		Eventually(func() []string { return eventsOf(b.Name) }).Should(ContainElement(ContainSubstring("PurgeFailed")))
		Consistently(backupGone(b.Name), 2*time.Second).Should(BeFalse())
		Expect(backupPurgeFailures()).To(BeNumerically(">", 0))

		Expect(s3Srv.Start()).To(Succeed())
		restarted = true
		Eventually(backupGone(b.Name), time.Minute).Should(BeTrue())
		Expect(s3ArtifactPath(b)).NotTo(BeAnExistingFile())
	})

	DescribeTable("leaves no orphan in the store when the operator dies mid-upload",
		func(server string, debris func(b *tenancyv1.Backup), leftovers func(b *tenancyv1.Backup) []string) {
			name := uniqueName("bkc")
			ws := newWorkspace(name)
			ws.Spec.DatabaseServer = server
			createReady(ws)
			DeferCleanup(deleteAndWait, name)
			seedTenant(name, 2000)

			uploading := make(chan string, 1)
			backupHooks.set(&backupHooks.upload, func(ctx context.Context, backup string) {
				if strings.HasPrefix(backup, "bk-"+name) {
					uploading <- backup
					<-ctx.Done() // the operator stops while the upload is open
				}
			})
			b := newBackup(name, false)
			Expect(k8s.Create(bg, b)).To(Succeed())
			DeferCleanup(func() { _ = client.IgnoreNotFound(k8s.Delete(bg, b)) })
			Eventually(uploading, time.Minute).Should(Receive())
			stopManager()
			DeferCleanup(func() {
				if mgrCancel == nil {
					startManager()
				}
			})
			backupHooks.set(&backupHooks.upload, nil)
			Expect(getBackup(b.Name).Status.Phase).To(Equal(tenancyv1.BackupRunning))

			By("a killed process would also leave the upload's debris: add it as such a crash leaves it")
			debris(getBackup(b.Name))
			Expect(leftovers(getBackup(b.Name))).NotTo(BeEmpty())

			startManager()
			Eventually(backupPhase(b.Name), time.Minute).Should(Equal(tenancyv1.BackupCompleted))
			got := getBackup(b.Name)
			Expect(got.Status.Attempts).To(Equal(2))
			Expect(leftovers(got)).To(BeEmpty())
		},
		Entry("file store", "eu-1",
			func(b *tenancyv1.Backup) {
				p := artifactPath(b)
				Expect(os.MkdirAll(filepath.Dir(p), 0o700)).To(Succeed())
				Expect(os.WriteFile(filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp-123456"), []byte("partial"), 0o600)).To(Succeed())
			},
			func(b *tenancyv1.Backup) []string {
				m, _ := filepath.Glob(filepath.Join(filepath.Dir(artifactPath(b)), "."+filepath.Base(artifactPath(b))+".tmp-*"))
				return m
			}),
		Entry("S3 store", "eu-s3",
			func(b *tenancyv1.Backup) {
				core, err := s3Srv.Client()
				Expect(err).NotTo(HaveOccurred())
				id, err := core.NewMultipartUpload(bg, "backups", "tenants/"+b.Status.Artifact.Key, minio.PutObjectOptions{})
				Expect(err).NotTo(HaveOccurred())
				_, err = core.PutObjectPart(bg, "backups", "tenants/"+b.Status.Artifact.Key, id, 1, bytes.NewReader(make([]byte, 1024)), 1024, minio.PutObjectPartOptions{})
				Expect(err).NotTo(HaveOccurred())
			},
			func(b *tenancyv1.Backup) []string {
				core, err := s3Srv.Client()
				Expect(err).NotTo(HaveOccurred())
				res, err := core.ListMultipartUploads(bg, "backups", "tenants/"+b.Status.Artifact.Key, "", "", "", 100)
				Expect(err).NotTo(HaveOccurred())
				var out []string
				for _, u := range res.Uploads {
					out = append(out, u.Key+" "+u.UploadID)
				}
				return out
			}),
	)

	It("runs at most --max-concurrent-backups at once when 50 workspaces are due together, and takes them all", func() {
		const n = 50
		policy := newPolicy(func(p *tenancyv1.RetentionPolicy) {
			p.Spec.Backups = tenancyv1.BackupRetention{Schedule: "30 2 * * *", RetainFor: "30d", AfterDeletion: "1d"}
		})
		var names []string
		for i := 0; i < n; i++ {
			name := uniqueName("bkq")
			ws := newWorkspace(name)
			ws.Spec.RetentionPolicyRef = &tenancyv1.LocalObjectReference{Name: policy.Name}
			Expect(k8s.Create(bg, ws)).To(Succeed())
			names = append(names, name)
		}
		DeferCleanup(func() {
			for _, name := range names {
				ws := &tenancyv1.Workspace{}
				if k8s.Get(bg, client.ObjectKey{Name: name}, ws) == nil {
					_ = k8s.Delete(bg, ws)
				}
			}
			var list tenancyv1.BackupList
			Expect(k8s.List(bg, &list)).To(Succeed())
			for i := range list.Items {
				if strings.HasPrefix(list.Items[i].Name, "bkq-") {
					_ = k8s.Delete(bg, &list.Items[i])
				}
			}
			for _, name := range names {
				Eventually(func() bool {
					return errorsIsNotFound(k8s.Get(bg, client.ObjectKey{Name: name}, &tenancyv1.Workspace{}))
				}, time.Minute).Should(BeTrue())
			}
		})
		for _, name := range names {
			Eventually(condition(name, tenancyv1.ConditionBackupsScheduled), time.Minute).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonScheduled))
		}

		var mu sync.Mutex
		running, most := 0, 0
		backupHooks.set(&backupHooks.dump, func(ctx context.Context, backup string) {
			if !strings.HasPrefix(backup, "bkq-") {
				return
			}
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			time.Sleep(150 * time.Millisecond) // hold the slot a while, so that any overlap shows
			mu.Lock()
			running--
			mu.Unlock()
		})
		next := getWS(names[0]).Status.Backups.NextScheduleTime.Time
		testClock.Advance(time.Until(next) + time.Minute)
		for _, name := range names {
			touch(getWS(name))
		}
		Eventually(func() int {
			var list tenancyv1.BackupList
			Expect(k8s.List(bg, &list)).To(Succeed())
			done := 0
			for _, b := range list.Items {
				if strings.HasPrefix(b.Name, "bkq-") && b.Spec.Reason == tenancyv1.BackupReasonScheduled && b.Status.Phase == tenancyv1.BackupCompleted {
					done++
				}
			}
			return done
		}, 3*time.Minute, time.Second).Should(Equal(n))
		mu.Lock()
		defer mu.Unlock()
		Expect(most).To(Equal(opCfg.MaxConcurrentBackups))
	})
})

// backupPurgeFailures reads switchboard_backup_purges_total{result="failed"}.
func backupPurgeFailures() float64 {
	GinkgoHelper()
	families, err := metricsGather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != "switchboard_backup_purges_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "failed" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// backupMetric reads a per-workspace backup gauge.
func backupMetric(metric, workspace string) float64 {
	GinkgoHelper()
	families, err := metricsGather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "workspace" && l.GetValue() == workspace {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	Fail(fmt.Sprintf("no %s for workspace %s", metric, workspace))
	return 0
}

var _ = Describe("Restores", func() {
	runtimeReplicas := func(name string) func() int32 {
		return func() int32 {
			dep := &appsv1.Deployment{}
			if err := k8s.Get(bg, client.ObjectKey{Namespace: "ws-" + name, Name: "runtime"}, dep); err != nil || dep.Spec.Replicas == nil {
				return -1
			}
			return *dep.Spec.Replicas
		}
	}
	restoreStatus := func(name string) func() *tenancyv1.WorkspaceRestoreStatus {
		return func() *tenancyv1.WorkspaceRestoreStatus { return getWS(name).Status.Restore }
	}

	It("restores a backup into a new Workspace before its runtime first starts, table by table", func() {
		src := uniqueName("rsrc")
		createReady(newWorkspace(src))
		DeferCleanup(deleteAndWait, src)
		seedTenant(src, 100)
		b := takeBackup(src, false)
		seedTenant(src, 7) // after the backup: not in the restore

		name := uniqueName("rnew")
		held := make(chan struct{})
		backupHooks.set(&backupHooks.restore, func(ctx context.Context, ws string) {
			if ws == name {
				select {
				case <-held:
				case <-ctx.Done():
				}
			}
		})
		ws := newWorkspace(name)
		ws.Spec.Bootstrap = &tenancyv1.WorkspaceBootstrap{FromBackup: &tenancyv1.LocalObjectReference{Name: b.Name}}
		Expect(k8s.Create(bg, ws)).To(Succeed())
		DeferCleanup(deleteAndWait, name)

		By("while the restore runs, the runtime exists with no replica and the workspace is not Ready")
		Eventually(condition(name, tenancyv1.ConditionRuntimeReady)).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonRestoring))
		Expect(runtimeReplicas(name)()).To(BeZero())
		Expect(getWS(name).Status.Restore).To(HaveField("Phase", tenancyv1.RestoreRunning))
		Expect(condition(name, tenancyv1.ConditionReady)()).To(haveStatus(metav1.ConditionFalse, ""))
		close(held)

		Eventually(condition(name, tenancyv1.ConditionRestored), time.Minute).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonRestored))
		Expect(restoreStatus(name)()).To(SatisfyAll(HaveField("Backup", b.Name), HaveField("InPlace", false),
			HaveField("Phase", tenancyv1.RestoreSucceeded), HaveField("Tables", 2), HaveField("Rows", int64(300))))
		Expect(tenantCount(name, "contacts")).To(Equal(int64(100)))
		Expect(tenantCount(name, "messages")).To(Equal(int64(200)))
		var owner string
		Expect(pgAdminIn(dbName(name), "SELECT tableowner FROM pg_tables WHERE tablename = 'contacts'").Scan(&owner)).To(Succeed())
		Expect(owner).To(Equal(dbName(name)))
		for _, scratch := range []string{"_restore", "_pre_restore"} {
			db, _ := pgExists(dbName(name) + scratch)
			Expect(db).To(BeFalse(), scratch)
		}

		By("then the runtime starts, and the workspace is Ready")
		Eventually(runtimeReplicas(name)).Should(BeNumerically(">", 0))
		rollOut(name)
		Eventually(condition(name, tenancyv1.ConditionReady)).Should(haveStatus(metav1.ConditionTrue, ""))
	})

	It("restores in place with the runtime held down, and a refused artifact leaves the database untouched", func() {
		name := uniqueName("rin")
		createReady(newWorkspace(name))
		DeferCleanup(deleteAndWait, name)
		seedTenant(name, 50)
		good := takeBackup(name, false)
		bad := takeBackup(name, false)
		seedTenant(name, 10)
		withTenantDB(name, func(conn *pgx.Conn) {
			_, err := conn.Exec(bg, "DELETE FROM messages WHERE id % 3 = 0")
			Expect(err).NotTo(HaveOccurred())
		})
		messagesNow := tenantCount(name, "messages")

		By("a truncated artifact is refused, and the current database is served again")
		raw, err := os.ReadFile(artifactPath(bad))
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(artifactPath(bad), raw[:len(raw)*2/3], 0o600)).To(Succeed())
		update(getWS(name), func(ws *tenancyv1.Workspace) { ws.Spec.Restore = &tenancyv1.WorkspaceRestore{Backup: bad.Name} })
		Eventually(runtimeReplicas(name)).Should(BeZero())
		rollOut(name)
		Eventually(condition(name, tenancyv1.ConditionRestored), time.Minute).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonRestoreFailed))
		Expect(restoreStatus(name)()).To(HaveField("Message", ContainSubstring("refused")))
		Expect(tenantCount(name, "contacts")).To(Equal(int64(60)))
		Expect(tenantCount(name, "messages")).To(Equal(messagesNow))
		Eventually(runtimeReplicas(name)).Should(BeNumerically(">", 0))
		rollOut(name)
		Eventually(condition(name, tenancyv1.ConditionReady)).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonRestoreFailed))

		By("a good backup is restored: the runtime goes to 0, the databases are swapped, the runtime comes back")
		update(getWS(name), func(ws *tenancyv1.Workspace) {
			ws.Spec.Restore = &tenancyv1.WorkspaceRestore{Backup: good.Name, RequestID: "second"}
		})
		Eventually(runtimeReplicas(name)).Should(BeZero())
		rollOut(name)
		Eventually(condition(name, tenancyv1.ConditionRestored), time.Minute).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonRestored))
		Expect(restoreStatus(name)()).To(SatisfyAll(HaveField("InPlace", true), HaveField("RequestID", "second"),
			HaveField("Tables", 2), HaveField("Rows", int64(150))))
		Expect(tenantCount(name, "contacts")).To(Equal(int64(50)))
		Expect(tenantCount(name, "messages")).To(Equal(int64(100)))
		Eventually(runtimeReplicas(name)).Should(BeNumerically(">", 0))
		rollOut(name)
		Eventually(condition(name, tenancyv1.ConditionReady)).Should(haveStatus(metav1.ConditionTrue, ""))

		By("the restore is not repeated on later passes")
		withTenantDB(name, func(conn *pgx.Conn) {
			_, err := conn.Exec(bg, "DELETE FROM messages")
			Expect(err).NotTo(HaveOccurred())
		})
		touch(getWS(name))
		settle(name)
		Expect(tenantCount(name, "messages")).To(BeZero())
	})
})

var _ = Describe("Backup tools", func() {
	It("refuses to start with a backup store and no usable pg_dump, naming it", func() {
		cfg, err := config.Load(append(append([]string(nil), opCfgArgs...), "--pg-dump=/nonexistent/pg_dump"), func(string) string { return "" })
		Expect(err).NotTo(HaveOccurred())
		_, err = controllers.NewManager(restCfg, cfg, controllers.ManagerOptions{SkipNameValidation: true})
		Expect(err).To(MatchError(SatisfyAll(ContainSubstring("pg_dump cannot be run"), ContainSubstring("/nonexistent/pg_dump"))))
	})
})

var _ = Describe("Restores and the erasure ledger", func() {
	It("re-applies the erasures recorded after the backup before the restored workspace is Ready", func() {
		name := uniqueName("rled")
		createReady(newWorkspace(name))
		DeferCleanup(deleteAndWait, name)
		ws := getWS(name)

		By("the runtime's schema, migrated as the runtime does, with two contacts")
		pool := migrateRuntime(name)
		var alice, bob int64
		Expect(pool.QueryRow(bg, `INSERT INTO contacts (name, emails) VALUES ('Alice Erased', ARRAY['alice@erased.example']) RETURNING id`).Scan(&alice)).To(Succeed())
		Expect(pool.QueryRow(bg, `INSERT INTO contacts (name, emails) VALUES ('Bob Kept', ARRAY['bob@kept.example']) RETURNING id`).Scan(&bob)).To(Succeed())

		b := takeBackup(name, false)

		By("Alice is erased after the backup, through the runtime's erasure code and ledger")
		ledger := privacy.NewLedger(rootVault(), "switchboard", contract.LedgerPrefix(name, string(ws.UID)))
		_, err := privacy.Erase(bg, pool, ledger, privacy.Entry{Kind: privacy.KindContact, SubjectID: alice, RequestID: "dsr-1"})
		Expect(err).NotTo(HaveOccurred())

		By("restoring the backup brings Alice back only until the ledger is replayed, before Ready")
		update(getWS(name), func(ws *tenancyv1.Workspace) { ws.Spec.Restore = &tenancyv1.WorkspaceRestore{Backup: b.Name} })
		Eventually(func() int32 {
			ws := getWS(name)
			if ws.Status.Restore == nil {
				return -1
			}
			dep := &appsv1.Deployment{}
			if err := k8s.Get(bg, client.ObjectKey{Namespace: "ws-" + name, Name: "runtime"}, dep); err != nil {
				return -1
			}
			return *dep.Spec.Replicas
		}).Should(BeZero())
		rollOut(name)
		Eventually(condition(name, tenancyv1.ConditionRestored), time.Minute).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonRestored))
		Expect(getWS(name).Status.Restore.ErasuresReplayed).To(Equal(1))
		var n int64
		Expect(pgAdminIn(dbName(name), "SELECT count(*) FROM contacts WHERE id = $1", alice).Scan(&n)).To(Succeed())
		Expect(n).To(BeZero(), "Alice stays erased")
		Expect(pgAdminIn(dbName(name), "SELECT count(*) FROM contacts WHERE id = $1", bob).Scan(&n)).To(Succeed())
		Expect(n).To(Equal(int64(1)), "Bob is restored")

		By("deleting the workspace with no backup left destroys the ledger with the key")
		Expect(k8s.Delete(bg, b)).To(Succeed())
		Eventually(backupGone(b.Name)).Should(BeTrue())
		deleteAndWait(name)
		Expect(vaultExists("switchboard/metadata/" + contract.LedgerPrefix(name, string(ws.UID)) + "/head")).To(BeFalse())
		Expect(receiptOf(name)).To(ContainSubstring(`"erasureLedgerDestroyed": true`))
	})
})

// pgAdminIn runs one query in a database as the superuser.
func pgAdminIn(database, query string, args ...any) pgx.Row {
	conn, err := pgx.Connect(bg, pg.DSN("postgres", "", database))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { conn.Close(bg) })
	return conn.QueryRow(bg, query, args...)
}
