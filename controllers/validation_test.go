package controllers_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/switchboard-dev/switchboard/test/harness"
)

// decode turns a YAML manifest into an object.
func decode(manifest string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(manifest), &u.Object)).To(Succeed())
	return u
}

const wsHead = "apiVersion: tenancy.switchboard.dev/v1alpha1\nkind: Workspace\nmetadata: {name: %s}\n"

func workspaceYAML(name, spec string) string {
	return strings.Replace(wsHead, "%s", name, 1) + "spec:\n" + spec
}

func integrationYAML(name, spec string) string {
	return "apiVersion: tenancy.switchboard.dev/v1alpha1\nkind: Integration\nmetadata: {name: " + name + ", namespace: validation}\nspec:\n" + spec
}

func policyYAML(spec string) string {
	return "apiVersion: tenancy.switchboard.dev/v1alpha1\nkind: RetentionPolicy\nmetadata: {name: p}\nspec:\n" + spec
}

const okOwner = "  owner: {email: a@b.example}\n  databaseServer: eu-1\n"
const okTelnyx = "  credentialsSecretRef: {name: c}\n"

var _ = Describe("CRD validation", func() {
	BeforeEach(func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "validation"}}
		Expect(client.IgnoreAlreadyExists(k8s.Create(bg, ns))).To(Succeed())
	})

	DescribeTable("rejects a bad manifest, naming the field",
		func(manifest, field string) {
			err := k8s.Create(bg, decode(manifest), client.DryRunAll, client.FieldValidation("Strict"))
			Expect(err).To(HaveOccurred(), "accepted:\n%s", manifest)
			Expect(err.Error()).To(ContainSubstring(field))
		},
		// Workspace names become namespaces and PostgreSQL identifiers.
		Entry("name too long for ws- and 63-byte identifiers", workspaceYAML(strings.Repeat("a", 51), okOwner), "metadata.name must be at most 50"),
		Entry("name with a dot", workspaceYAML("a.b", okOwner), "metadata.name must be lower-case"),
		Entry("name starting with a digit", workspaceYAML("1abc", okOwner), "metadata.name must be lower-case"),
		Entry("missing owner", workspaceYAML("w1", "  databaseServer: eu-1\n"), "spec.owner"),
		Entry("owner email without @", workspaceYAML("w2", "  owner: {email: nobody}\n  databaseServer: eu-1\n"), "spec.owner.email"),
		Entry("missing databaseServer", workspaceYAML("w3", "  owner: {email: a@b.example}\n"), "spec.databaseServer"),
		Entry("databaseServer not a DNS label", workspaceYAML("w4", "  owner: {email: a@b.example}\n  databaseServer: EU_1\n"), "spec.databaseServer"),
		Entry("unknown plan", workspaceYAML("w5", okOwner+"  plan: platinum\n"), "spec.plan"),
		Entry("unknown deletionPolicy", workspaceYAML("w6", okOwner+"  deletionPolicy: Orphan\n"), "spec.deletionPolicy"),
		Entry("host with upper case", workspaceYAML("w7", okOwner+"  host: Acme.Example.com\n"), "spec.host"),
		Entry("host without a dot", workspaceYAML("w8", okOwner+"  host: localhost\n"), "spec.host"),
		Entry("host too long", workspaceYAML("w9", okOwner+"  host: "+strings.Repeat("a.", 130)+"com\n"), "spec.host"),
		Entry("displayName too long", workspaceYAML("w10", okOwner+"  displayName: "+strings.Repeat("x", 129)+"\n"), "spec.displayName"),
		Entry("runtimeImage with a space", workspaceYAML("w11", okOwner+"  runtimeImage: \"bad image\"\n"), "spec.runtimeImage"),
		Entry("suspended not a bool", workspaceYAML("w12", okOwner+"  suspended: \"yes\"\n"), "spec.suspended"),
		Entry("unknown field", workspaceYAML("w13", okOwner+"  replicas: 3\n"), "replicas"),

		Entry("unknown integration type", integrationYAML("i1", "  type: fax\n"+okTelnyx), "spec.type"),
		Entry("whatsapp without phoneNumberId", integrationYAML("i2", "  type: whatsapp\n  config: {businessAccountId: '1'}\n"+okTelnyx), "spec.config"),
		Entry("messenger without config", integrationYAML("i3", "  type: messenger\n"+okTelnyx), "spec.config must have pageId"),
		Entry("imap without smtpHost", integrationYAML("i4", "  type: imap\n  config: {imapHost: i, username: u}\n"+okTelnyx), "spec.config must have imapHost, smtpHost and username"),
		Entry("telnyx without messagingProfileId", integrationYAML("i5", "  type: telnyx\n  config: {phoneNumber: '+1'}\n"+okTelnyx), "spec.config must have phoneNumber and messagingProfileId"),
		Entry("stripe without accountId", integrationYAML("i6", "  type: stripe\n  config: {}\n"+okTelnyx), "spec.config must have accountId"),
		Entry("shopify without shopDomain", integrationYAML("i7", "  type: shopify\n"+okTelnyx), "spec.config must have shopDomain"),
		Entry("googlePlaces without placeId", integrationYAML("i8", "  type: googlePlaces\n"+okTelnyx), "spec.config must have placeId"),
		Entry("microsoft without mailbox", integrationYAML("i9", "  type: microsoft\n  config: {tenantId: t}\n"+okTelnyx), "spec.config must have tenantId and mailbox"),
		Entry("missing credentialsSecretRef", integrationYAML("i10", "  type: googlePlaces\n  config: {placeId: p}\n"), "spec.credentialsSecretRef"),
		Entry("secret name not DNS", integrationYAML("i11", "  type: googlePlaces\n  config: {placeId: p}\n  credentialsSecretRef: {name: Bad_Name}\n"), "spec.credentialsSecretRef.name"),
		Entry("integration name with a dot", integrationYAML("a.b", "  type: googlePlaces\n  config: {placeId: p}\n"+okTelnyx), "metadata.name must be a DNS label"),

		Entry("retainFor without unit", policyYAML("  categories: [{category: conversations, retainFor: '730'}]\n"), "spec.categories[0].retainFor"),
		Entry("retainFor in weeks", policyYAML("  categories: [{category: conversations, retainFor: 4w}]\n"), "spec.categories[0].retainFor"),
		Entry("unknown category", policyYAML("  categories: [{category: cookies, retainFor: 1d}]\n"), "spec.categories[0].category"),
		Entry("unknown action", policyYAML("  categories: [{category: auditLog, retainFor: 1d, action: Shred}]\n"), "spec.categories[0].action"),
		Entry("duplicate category", policyYAML("  categories: [{category: auditLog, retainFor: 1d}, {category: auditLog, retainFor: 2d}]\n"), "spec.categories[1]"),
		Entry("afterDisconnect over 30 days", policyYAML("  credentials: {afterDisconnect: 31d}\n"), "credentials.afterDisconnect must be at most 30d"),
		Entry("afterDisconnect over 720 hours", policyYAML("  credentials: {afterDisconnect: 721h}\n"), "credentials.afterDisconnect must be at most 30d"),
		Entry("backup schedule not cron", policyYAML("  backups: {schedule: daily}\n"), "spec.backups.schedule"),
		Entry("backup afterDeletion malformed", policyYAML("  backups: {afterDeletion: 90days}\n"), "spec.backups.afterDeletion"),

		Entry("backup without workspace", "apiVersion: tenancy.switchboard.dev/v1alpha1\nkind: Backup\nmetadata: {name: b1}\nspec: {reason: Manual}\n", "spec.workspace"),
		Entry("in-place restore without a backup", workspaceYAML("w-restore", okOwner+"  restore: {requestID: again}\n"), "spec.restore.backup"),
		Entry("bootstrap from a backup without its name", workspaceYAML("w-boot", okOwner+"  bootstrap: {fromBackup: {}}\n"), "spec.bootstrap.fromBackup.name"),
		Entry("backup with unknown reason", "apiVersion: tenancy.switchboard.dev/v1alpha1\nkind: Backup\nmetadata: {name: b2}\nspec: {workspace: acme, reason: Whim}\n", "spec.reason"),
	)

	It("keeps databaseServer and Integration type immutable", func() {
		ws := decode(workspaceYAML(uniqueName("immut"), okOwner+"  suspended: true\n"))
		Expect(k8s.Create(bg, ws)).To(Succeed())
		DeferCleanup(deleteAndWait, ws.GetName())
		Eventually(updating(ws, func(u *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(u.Object, "eu-2", "spec", "databaseServer")).To(Succeed())
		})).Should(MatchError(ContainSubstring("spec.databaseServer is immutable")))

		in := decode(integrationYAML("immut", "  type: googlePlaces\n  config: {placeId: p}\n"+okTelnyx))
		Expect(k8s.Create(bg, in)).To(Succeed())
		Eventually(updating(in, func(u *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(u.Object, "stripe", "spec", "type")).To(Succeed())
			Expect(unstructured.SetNestedStringMap(u.Object, map[string]string{"accountId": "a"}, "spec", "config")).To(Succeed())
		})).Should(MatchError(ContainSubstring("spec.type is immutable")))

		By("a Workspace's bootstrap and a Backup's spec")
		Eventually(updating(ws, func(u *unstructured.Unstructured) {
			Expect(unstructured.SetNestedStringMap(u.Object, map[string]string{"name": "some-backup"}, "spec", "bootstrap", "fromBackup")).To(Succeed())
		})).Should(MatchError(ContainSubstring("spec.bootstrap is immutable")))
		b := decode("apiVersion: tenancy.switchboard.dev/v1alpha1\nkind: Backup\nmetadata: {name: " + uniqueName("immut-bk") + "}\nspec: {workspace: no-such-workspace}\n")
		Expect(k8s.Create(bg, b)).To(Succeed())
		DeferCleanup(func() { _ = k8s.Delete(bg, b) })
		Eventually(updating(b, func(u *unstructured.Unstructured) {
			Expect(unstructured.SetNestedField(u.Object, true, "spec", "verify")).To(Succeed())
		})).Should(MatchError(ContainSubstring("spec is immutable")))
	})

	It("accepts every sample in config/samples", func() {
		root, err := harness.Root()
		Expect(err).NotTo(HaveOccurred())
		Expect(client.IgnoreAlreadyExists(k8s.Create(bg, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ws-acme"}}))).To(Succeed())
		files, err := filepath.Glob(filepath.Join(root, "config", "samples", "tenancy_*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(len(files)).To(BeNumerically(">=", 4))
		n := 0
		for _, f := range files {
			b, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
			for {
				u := &unstructured.Unstructured{}
				if err := dec.Decode(&u.Object); err == io.EOF {
					break
				} else {
					Expect(err).NotTo(HaveOccurred())
				}
				if len(u.Object) == 0 {
					continue
				}
				Expect(k8s.Create(bg, u, client.DryRunAll)).To(Succeed(), "%s: %s", filepath.Base(f), u.GetKind())
				n++
			}
		}
		Expect(n).To(BeNumerically(">=", 5))
	})
})

// updating returns a function that applies mutate to a fresh copy of obj and
// updates it, so that Eventually retries past conflicts with the operator.
func updating(obj *unstructured.Unstructured, mutate func(*unstructured.Unstructured)) func() error {
	return func() error {
		fresh := &unstructured.Unstructured{}
		fresh.SetGroupVersionKind(obj.GroupVersionKind())
		Expect(k8s.Get(bg, client.ObjectKeyFromObject(obj), fresh)).To(Succeed())
		mutate(fresh)
		return k8s.Update(bg, fresh)
	}
}
