package controllers_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers"
)

// exportName is the Backup that records a workspace's deletion export.
func exportName(ws *tenancyv1.Workspace) string {
	return ws.Name + "-export-" + string(ws.UID)[:8]
}

// exportWorld migrates the runtime's schema into the workspace's database,
// adds a contact with a message, and lists the tables an export must hold.
func exportWorld(name string) (pool *pgxpool.Pool, tables []string) {
	GinkgoHelper()
	pool = migrateRuntime(name)
	var contact int64
	Expect(pool.QueryRow(bg, `INSERT INTO contacts (name, emails) VALUES ('Ada Exported', ARRAY['ada@exported.example']) RETURNING id`).Scan(&contact)).To(Succeed())
	rows, err := pool.Query(bg, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	Expect(err).NotTo(HaveOccurred())
	tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	Expect(err).NotTo(HaveOccurred())
	Expect(tables).To(ContainElements("contacts", "messages", "conversations"))
	return pool, tables
}

// expectExportArtifact checks an export's artifact file: its size and
// SHA-256 are the ones the Backup records, and `switchboard backup
// decrypt` turns it into a zip with a file for every table, holding the
// contact.
func expectExportArtifact(path string, b *tenancyv1.Backup, tables []string) {
	GinkgoHelper()
	raw, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	sum := sha256.Sum256(raw)
	Expect(int64(len(raw))).To(Equal(b.Status.Artifact.Size))
	Expect(hex.EncodeToString(sum[:])).To(Equal(b.Status.Artifact.SHA256))

	code, plain, stderr := decrypt(path)
	Expect(code).To(Equal(0), stderr)
	zr, err := zip.NewReader(bytes.NewReader(plain), int64(len(plain)))
	Expect(err).NotTo(HaveOccurred())
	files := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		Expect(err).NotTo(HaveOccurred())
		body, err := io.ReadAll(rc)
		Expect(err).NotTo(HaveOccurred())
		rc.Close()
		files[f.Name] = string(body)
	}
	Expect(files).To(HaveKey("manifest.json"))
	var manifest struct {
		Excluded map[string]string `json:"excluded"`
	}
	Expect(json.Unmarshal([]byte(files["manifest.json"]), &manifest)).To(Succeed())
	for _, t := range tables {
		if manifest.Excluded[t] != "" {
			continue // left out on purpose, and the manifest says why
		}
		Expect(files).To(HaveKey("tables/"+t+".jsonl"), "table %s is in the export", t)
	}
	Expect(files).To(HaveKey("tables/contacts.jsonl"))
	Expect(files["tables/contacts.jsonl"]).To(ContainSubstring("Ada Exported"))
	Expect(b.Status.Artifact.RowCounts).To(HaveKeyWithValue("tables/contacts.jsonl", int64(1)))
}

var _ = Describe("Export before deletion", func() {
	It("takes the export into the backup store before any data goes, records it in the receipt, refuses to restore it, and purges it with the backups", func() {
		policy := newPolicy(func(p *tenancyv1.RetentionPolicy) {
			p.Spec.Backups = tenancyv1.BackupRetention{Schedule: "0 3 * * *", RetainFor: "30d", AfterDeletion: "1d"}
		})
		name := uniqueName("exp")
		ws := newWorkspace(name)
		ws.Spec.RetentionPolicyRef = &tenancyv1.LocalObjectReference{Name: policy.Name}
		ws.Spec.Deletion = &tenancyv1.WorkspaceDeletion{Export: tenancyv1.DeletionExportBackupStore}
		createReady(ws)
		ws = getWS(name)
		pool, tables := exportWorld(name)
		b := takeBackup(name, false)
		pool.Close()

		deleteAndWait(name)
		e := getBackup(exportName(ws))
		Expect(e.Spec.Reason).To(Equal(tenancyv1.BackupReasonDeletionExport))
		Expect(e.Status.Phase).To(Equal(tenancyv1.BackupCompleted))
		Expect(e.Status.WorkspaceUID).To(Equal(string(ws.UID)))
		Expect(e.Status.Artifact.Key).To(Equal(name + "/" + string(ws.UID) + "/exports/" + e.Name + ".sbk"))
		Expect(e.Status.Artifact.Store).To(Equal("file://" + fileStoreDir))

		By("the artifact decrypts, with the backup tooling, to a zip of every table, taken before the database was dropped")
		expectExportArtifact(artifactPath(e), e, tables)

		By("the receipt names the export, with ids and counts only")
		receipt := receiptOf(name)
		Expect(receipt).To(SatisfyAll(
			ContainSubstring(`"mode": "BackupStore"`), ContainSubstring(`"backup": "`+e.Name+`"`),
			ContainSubstring(`"key": "`+e.Status.Artifact.Key+`"`), ContainSubstring(`"sha256": "`+e.Status.Artifact.SHA256+`"`),
			ContainSubstring(`"tables/contacts.jsonl": 1`), ContainSubstring(`"name": "`+e.Name+`"`),
			Not(ContainSubstring("Ada")), Not(ContainSubstring("exported.example"))))
		Expect(eventsOf(name)).To(ContainElement(ContainSubstring(tenancyv1.EventExported)))

		By("it expires with the backups, and keeps the transit key until then")
		e = expiring(e.Name)
		Expect(e.Status.ExpiresAt.Time).To(BeTemporally("~", e.Status.WorkspaceDeletedAt.Add(24*time.Hour), time.Second))
		Expect(transitKeyExists(ws.TransitKeyName())).To(BeTrue())

		By("it is no database backup: restoring it is refused")
		other := uniqueName("expr")
		nws := newWorkspace(other)
		nws.Spec.Bootstrap = &tenancyv1.WorkspaceBootstrap{FromBackup: &tenancyv1.LocalObjectReference{Name: e.Name}}
		Expect(k8s.Create(bg, nws)).To(Succeed())
		DeferCleanup(deleteAndWait, other)
		Eventually(condition(other, tenancyv1.ConditionRestored), time.Minute).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonRestoreFailed), HaveField("Message", ContainSubstring("deletion export"))))

		deleteAndWait(other)

		By("afterDeletion passes: the export and the backup are purged with proof, and the key goes with the last")
		testClock.Advance(2 * 24 * time.Hour)
		touchIfThere(e)
		touchIfThere(b)
		Eventually(backupGone(e.Name), time.Minute).Should(BeTrue())
		Eventually(backupGone(b.Name), time.Minute).Should(BeTrue())
		Expect(artifactPath(e)).NotTo(BeAnExistingFile())
		Expect(artifactPath(b)).NotTo(BeAnExistingFile())
		Expect(chainEntry("backup.purged/" + string(e.UID))).To(SatisfyAll(
			ContainSubstring(`"reason": "DeletionExport"`), ContainSubstring(`"existed": true`), ContainSubstring(e.Status.Artifact.Key)))
		Expect(transitKeyExists(ws.TransitKeyName())).To(BeFalse())
	})

	It("takes no export by default, and the receipt says so; the field takes BackupStore or None only", func() {
		name := uniqueName("expn")
		createReady(newWorkspace(name))
		ws := getWS(name)
		Expect(controllers.DeletionExportOf(ws)).To(Equal(tenancyv1.DeletionExportNone))

		bad := ws.DeepCopy()
		bad.Spec.Deletion = &tenancyv1.WorkspaceDeletion{Export: "Bucket"}
		Expect(k8s.Update(bg, bad)).To(MatchError(ContainSubstring("spec.deletion.export")))

		deleteAndWait(name)
		Expect(errorsIsNotFound(k8s.Get(bg, client.ObjectKey{Name: exportName(ws)}, &tenancyv1.Backup{}))).To(BeTrue())
		Expect(receiptOf(name)).To(SatisfyAll(ContainSubstring(`"mode": "None"`), Not(ContainSubstring(`"sha256"`))))

		By("a database the runtime never migrated holds nothing to export: the receipt says so")
		empty := uniqueName("expe")
		ews := newWorkspace(empty)
		ews.Spec.Deletion = &tenancyv1.WorkspaceDeletion{Export: tenancyv1.DeletionExportBackupStore}
		createReady(ews)
		ews = getWS(empty)
		deleteAndWait(empty)
		Expect(errorsIsNotFound(k8s.Get(bg, client.ObjectKey{Name: exportName(ews)}, &tenancyv1.Backup{}))).To(BeTrue())
		Expect(receiptOf(empty)).To(SatisfyAll(ContainSubstring(`"mode": "BackupStore"`), ContainSubstring("never migrated")))
	})

	It("waits with a condition while the store is down, then takes the export on S3 and completes the deletion", func() {
		name := uniqueName("exps")
		ws := newWorkspace(name)
		ws.Spec.DatabaseServer = "eu-s3"
		ws.Spec.Deletion = &tenancyv1.WorkspaceDeletion{Export: tenancyv1.DeletionExportBackupStore}
		createReady(ws)
		ws = getWS(name)
		pool, tables := exportWorld(name)
		pool.Close()

		s3Srv.Stop()
		restarted := false
		DeferCleanup(func() {
			if !restarted {
				Expect(s3Srv.Start()).To(Succeed())
			}
		})
		Expect(k8s.Delete(bg, ws)).To(Succeed())
		Eventually(condition(name, tenancyv1.ConditionDeleting)).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonExportFailed),
			HaveField("Message", ContainSubstring("spec.deletion.export to None")),
			HaveField("Message", Not(ContainSubstring(s3Srv.SecretKey)))))
		Eventually(func() []string { return eventsOf(name) }).Should(ContainElement(ContainSubstring(tenancyv1.EventExportFailed)))
		Consistently(func() bool { db, _ := pgExists(dbName(name)); return db }, 3*time.Second).Should(BeTrue(), "nothing is deleted while the export waits")
		Expect(getWS(name).Status.Phase).To(Equal(tenancyv1.WorkspaceDeleting))
		for _, ev := range eventsOf(name) {
			Expect(ev).NotTo(SatisfyAny(ContainSubstring(s3Srv.SecretKey), ContainSubstring("Ada"), ContainSubstring("password")))
		}

		Expect(s3Srv.Start()).To(Succeed())
		restarted = true
		Eventually(func() bool {
			return errorsIsNotFound(k8s.Get(bg, client.ObjectKey{Name: name}, &tenancyv1.Workspace{}))
		}, time.Minute).Should(BeTrue())
		db, role := pgExists(dbName(name))
		Expect(db || role).To(BeFalse())

		e := getBackup(exportName(ws))
		Expect(e.Status.Phase).To(Equal(tenancyv1.BackupCompleted))
		Expect(e.Status.Artifact.Store).To(Equal(s3Srv.StoreURL("backups", "tenants")))
		expectExportArtifact(s3ArtifactPath(e), e, tables)
		Expect(receiptOf(name)).To(SatisfyAll(ContainSubstring(`"store": "`+e.Status.Artifact.Store+`"`),
			ContainSubstring(`"sha256": "`+e.Status.Artifact.SHA256+`"`), Not(ContainSubstring(s3Srv.SecretKey))))

		By("deleting the export purges it from the bucket, and the key with it")
		Expect(k8s.Delete(bg, e)).To(Succeed())
		Eventually(backupGone(e.Name), time.Minute).Should(BeTrue())
		Expect(s3ArtifactPath(e)).NotTo(BeAnExistingFile())
		Expect(transitKeyExists(ws.TransitKeyName())).To(BeFalse())
	})

	It("deletes without an export once an admin sets the field to None while the export waits", func() {
		name := uniqueName("expo")
		ws := newWorkspace(name)
		ws.Spec.DatabaseServer = "eu-s3"
		ws.Spec.Deletion = &tenancyv1.WorkspaceDeletion{Export: tenancyv1.DeletionExportBackupStore}
		createReady(ws)
		ws = getWS(name)
		migrateRuntime(name).Close()

		s3Srv.Stop()
		DeferCleanup(func() { Expect(s3Srv.Start()).To(Succeed()) })
		Expect(k8s.Delete(bg, ws)).To(Succeed())
		Eventually(condition(name, tenancyv1.ConditionDeleting)).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonExportFailed))

		update(getWS(name), func(ws *tenancyv1.Workspace) { ws.Spec.Deletion.Export = tenancyv1.DeletionExportNone })
		Eventually(func() bool {
			return errorsIsNotFound(k8s.Get(bg, client.ObjectKey{Name: name}, &tenancyv1.Workspace{}))
		}, time.Minute).Should(BeTrue())
		Expect(receiptOf(name)).To(ContainSubstring(`"mode": "None"`))
		Expect(errorsIsNotFound(k8s.Get(bg, client.ObjectKey{Name: exportName(ws)}, &tenancyv1.Backup{}))).To(BeTrue())
		Expect(strings.Join(eventsOf(name), "\n")).To(ContainSubstring(tenancyv1.EventExportFailed))
	})
})
