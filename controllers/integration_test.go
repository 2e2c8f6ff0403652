package controllers_test

import (
	"strings"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/receipts"
	"github.com/switchboard-dev/switchboard/runtime/contract"
)

func telnyxSecret(ns, name, apiKey string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		StringData: map[string]string{"apiKey": apiKey, "publicKey": "pk-" + apiKey},
	}
}

func telnyxIntegration(ns, name, secret string) *tenancyv1.Integration {
	return &tenancyv1.Integration{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: tenancyv1.IntegrationSpec{
			Type:                 tenancyv1.IntegrationTelnyx,
			Config:               map[string]string{"phoneNumber": "+15550100", "messagingProfileId": "mp-1"},
			CredentialsSecretRef: tenancyv1.SecretReference{Name: secret},
		},
	}
}

func integrationReady(ns, name string) func() *metav1.Condition {
	return func() *metav1.Condition {
		in := &tenancyv1.Integration{}
		if err := k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: name}, in); err != nil {
			return nil
		}
		return meta.FindStatusCondition(in.Status.Conditions, tenancyv1.ConditionReady)
	}
}

func getIntegration(ns, name string) *tenancyv1.Integration {
	in := &tenancyv1.Integration{}
	Expect(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: name}, in)).To(Succeed())
	return in
}

// kvMetadata reads the KV v2 metadata of a path, or nil when none is left.
func kvMetadata(path string) *vaultapi.KVMetadata {
	m, err := rootVault().KVv2("switchboard").GetMetadata(bg, path)
	if err != nil {
		return nil
	}
	return m
}

var _ = Describe("Integration", func() {
	var ws, ns string
	BeforeEach(func() {
		ws = uniqueName("intg")
		ns = "ws-" + ws
		Expect(k8s.Create(bg, newWorkspace(ws))).To(Succeed())
		Eventually(condition(ws, tenancyv1.ConditionVaultReady)).Should(haveStatus(metav1.ConditionTrue, ""))
		Eventually(condition(ws, tenancyv1.ConditionNamespaceReady)).Should(haveStatus(metav1.ConditionTrue, ""))
	})

	It("imports credentials into Vault only, rotates them, and destroys them on disconnect", func() {
		path := "workspaces/" + ws + "/integrations/sms"
		Expect(k8s.Create(bg, telnyxSecret(ns, "creds", "KEY-one-7f3a9c"))).To(Succeed())
		Expect(k8s.Create(bg, telnyxIntegration(ns, "sms", "creds"))).To(Succeed())

		By("importing")
		Eventually(integrationReady(ns, "sms")).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonCredentialsStored))
		in := getIntegration(ns, "sms")
		Expect(in.Status.CredentialsVersion).To(Equal(1))
		Expect(in.Status.WebhookPath).To(Equal("/webhooks/telnyx/sms"))
		Expect(in.Status.Workspace).To(Equal(ws))
		Expect(in.Status.Phase).To(Equal(tenancyv1.IntegrationConnected))
		Expect(in.Status.ObservedGeneration).To(Equal(in.Generation))
		Expect(vaultKV(path)).To(HaveKeyWithValue("apiKey", "KEY-one-7f3a9c"))
		Eventually(func() []string { return eventsOf("sms") }).Should(ContainElement(HavePrefix(tenancyv1.EventCredentialsStored)))

		By("writing nothing more while nothing changes")
		settleWrites() // other specs' workspaces may still be converging
		external := writes.total()
		touch(getIntegration(ns, "sms"))
		Consistently(func() int { return writes.total() }, 2*time.Second).Should(Equal(external), "writes: %v", writes.since(external))
		Expect(kvMetadata(path).CurrentVersion).To(Equal(1))

		By("writing a new version when the Secret changes")
		update(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"}},
			func(s *corev1.Secret) { s.Data["apiKey"] = []byte("KEY-two-b81e44") })
		Eventually(func() int { return getIntegration(ns, "sms").Status.CredentialsVersion }).Should(Equal(2))
		Expect(vaultKV(path)).To(HaveKeyWithValue("apiKey", "KEY-two-b81e44"))
		Eventually(func() []string { return eventsOf("sms") }).Should(ContainElement(HavePrefix(tenancyv1.EventCredentialsRotated)))

		By("keeping every secret value out of status and events")
		expectNoSecret([]string{"KEY-one-7f3a9c", "KEY-two-b81e44", "pk-KEY-two-b81e44"},
			toJSON(getIntegration(ns, "sms")), strings.Join(eventsOf("sms"), "\n"), toJSON(getWS(ws)))

		By("destroying every version and the metadata on disconnect")
		update(in, func(in *tenancyv1.Integration) { in.Spec.Disconnected = true })
		Eventually(integrationReady(ns, "sms")).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonDisconnected))
		Expect(kvMetadata(path)).To(BeNil())
		for _, v := range []int{1, 2} {
			s, err := rootVault().KVv2("switchboard").GetVersion(bg, path, v)
			Expect(err).To(HaveOccurred(), "version %d survived: %v", v, s)
		}
		in = getIntegration(ns, "sms")
		Expect(in.Status.Phase).To(Equal(tenancyv1.IntegrationDisconnected))
		Expect(in.Status.DisconnectedAt).NotTo(BeNil())
		Expect(in.Status.CredentialsVersion).To(BeZero())
		Eventually(func() []string { return eventsOf("sms") }).Should(ContainElement(HavePrefix(tenancyv1.EventCredentialsDestroyed)))
		Expect(receiptsOfKind(receipts.KindVaultDestroyed)).To(ContainElement(SatisfyAll(
			HaveField("Object", "Integration/"+ns+"/sms"), HaveField("Workspace", ws))))

		By("reconnecting")
		update(in, func(in *tenancyv1.Integration) { in.Spec.Disconnected = false })
		Eventually(integrationReady(ns, "sms")).Should(haveStatus(metav1.ConditionTrue, ""))
		Expect(vaultKV(path)).To(HaveKeyWithValue("apiKey", "KEY-two-b81e44"))
	})

	It("tells the runtime through the manifest, shows what the runtime reports, and lets it write only its own health and tokens", func() {
		manifest := func() contract.ChannelManifest {
			raw, _ := vaultKV("workspaces/" + ws + "/" + contract.EntryChannels)[contract.ChannelManifestKey].(string)
			m, err := contract.DecodeManifest(raw)
			Expect(err).NotTo(HaveOccurred())
			return m
		}
		Expect(k8s.Create(bg, telnyxSecret(ns, "creds", "KEY-man-1"))).To(Succeed())
		Expect(k8s.Create(bg, telnyxIntegration(ns, "sms", "creds"))).To(Succeed())
		Eventually(func() int { return manifest().Integrations["sms"].CredentialsVersion }).Should(Equal(1))
		in := getIntegration(ns, "sms")
		Expect(manifest().Integrations["sms"]).To(Equal(contract.ChannelInfo{Type: "telnyx", UID: string(in.UID), CredentialsVersion: 1,
			Config: map[string]string{"phoneNumber": "+15550100", "messagingProfileId": "mp-1"}, WebhookPath: "/webhooks/telnyx/sms"}))
		Expect(toJSON(manifest())).NotTo(ContainSubstring("KEY-man-1"), "the manifest holds no secret")

		By("naming the rotated credentials' version")
		update(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"}},
			func(s *corev1.Secret) { s.Data["apiKey"] = []byte("KEY-man-2") })
		Eventually(func() int { return manifest().Integrations["sms"].CredentialsVersion }).Should(Equal(2))

		By("logging in as the runtime would, with the workspace's policy")
		tok, err := rootVault().Auth().Token().Create(&vaultTokenRequest{Policies: []string{"ws-" + ws}, NoDefaultPolicy: true})
		Expect(err).NotTo(HaveOccurred())
		rt := rootVault()
		rt.SetToken(tok.Auth.ClientToken)
		report := func(h contract.ChannelHealth) error {
			_, err := rt.KVv2("switchboard").Put(bg, "workspaces/"+ws+"/"+contract.HealthEntry("sms"), map[string]any{contract.ChannelHealthKey: contract.EncodeHealth(h)})
			return err
		}

		By("showing a refusal the runtime reports as Ready=False AuthFailed, with the provider's code")
		Expect(report(contract.ChannelHealth{State: contract.HealthAuthFailed, Code: "10009", Message: "Telnyx refused the API key",
			UID: string(in.UID), CredentialsVersion: 2, At: time.Now()})).To(Succeed())
		Eventually(integrationReady(ns, "sms")).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonAuthFailed))
		Expect(integrationReady(ns, "sms")().Message).To(ContainSubstring("10009"))
		Expect(getIntegration(ns, "sms").Status.Runtime).To(PointTo(SatisfyAll(HaveField("State", "AuthFailed"), HaveField("Code", "10009"))))
		Eventually(func() []string { return eventsOf("sms") }).Should(ContainElement(HavePrefix(tenancyv1.EventRuntimeHealth)))

		By("taking a report on older credentials for no report at all")
		Expect(report(contract.ChannelHealth{State: contract.HealthConnected, UID: string(in.UID), CredentialsVersion: 1, At: time.Now()})).To(Succeed())
		Eventually(integrationReady(ns, "sms")).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonCredentialsStored))
		Consistently(integrationReady(ns, "sms"), time.Second).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonCredentialsStored))
		Expect(getIntegration(ns, "sms").Status.Runtime).To(BeNil())
		Expect(report(contract.ChannelHealth{State: contract.HealthConnected, UID: string(in.UID), CredentialsVersion: 2, At: time.Now()})).To(Succeed())
		Eventually(integrationReady(ns, "sms")).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonRuntimeConnected))

		By("refusing the runtime every other write")
		_, err = rt.KVv2("switchboard").Put(bg, "workspaces/"+ws+"/"+contract.EntryChannels, map[string]any{contract.ChannelManifestKey: "{}"})
		Expect(err).To(MatchError(ContainSubstring("403")), "the manifest is the operator's")
		_, err = rt.KVv2("switchboard").Put(bg, "workspaces/"+ws+"/integrations/sms", map[string]any{"apiKey": "x"})
		Expect(err).To(MatchError(ContainSubstring("403")), "credentials are the operator's")
		_, err = rt.KVv2("switchboard").Put(bg, "workspaces/"+ws+"/"+contract.TokensEntry("sms"), map[string]any{"accessToken": "x"})
		Expect(err).To(MatchError(ContainSubstring("403")), "a telnyx Integration has no tokens entry")

		By("granting a microsoft Integration's tokens entry, and only that")
		Expect(k8s.Create(bg, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ms"},
			StringData: map[string]string{"clientId": "cid", "clientSecret": "csecret-77", "refreshToken": "rt-0"}})).To(Succeed())
		Expect(k8s.Create(bg, &tenancyv1.Integration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mail"},
			Spec: tenancyv1.IntegrationSpec{Type: tenancyv1.IntegrationMicrosoft, Config: map[string]string{"tenantId": "t1", "mailbox": "help@example.com"},
				CredentialsSecretRef: tenancyv1.SecretReference{Name: "ms"}}})).To(Succeed())
		Eventually(func() error {
			_, err := rt.KVv2("switchboard").Put(bg, "workspaces/"+ws+"/"+contract.TokensEntry("mail"), map[string]any{"accessToken": "at"})
			return err
		}).Should(Succeed())
		_, err = rt.KVv2("switchboard").Put(bg, "workspaces/"+ws+"/"+contract.TokensEntry("mail-2"), map[string]any{"accessToken": "at"})
		Expect(err).To(MatchError(ContainSubstring("403")))

		By("taking a disconnected Integration out of the manifest and removing the runtime's entries")
		update(getIntegration(ns, "mail"), func(in *tenancyv1.Integration) { in.Spec.Disconnected = true })
		Eventually(func() bool { _, ok := manifest().Integrations["mail"]; return ok }).Should(BeFalse())
		Eventually(func() *vaultapi.KVMetadata {
			return kvMetadata("workspaces/" + ws + "/" + contract.TokensEntry("mail"))
		}).Should(BeNil())
		Eventually(func() error {
			_, err := rt.KVv2("switchboard").Put(bg, "workspaces/"+ws+"/"+contract.TokensEntry("mail"), map[string]any{"accessToken": "at"})
			return err
		}).Should(MatchError(ContainSubstring("403")), "a disconnected Integration's tokens entry is no longer writable")

		By("taking a deleted Integration out too")
		Expect(k8s.Delete(bg, getIntegration(ns, "sms"))).To(Succeed())
		Eventually(func() bool { _, ok := manifest().Integrations["sms"]; return ok }).Should(BeFalse())
		Expect(kvMetadata("workspaces/" + ws + "/" + contract.HealthEntry("sms"))).To(BeNil())
	})

	It("removes the source Secret once the credentials are in Vault", func() {
		Expect(k8s.Create(bg, telnyxSecret(ns, "once", "KEY-once-55aa"))).To(Succeed())
		in := telnyxIntegration(ns, "sms-once", "once")
		in.Spec.RemoveSourceSecret = true
		Expect(k8s.Create(bg, in)).To(Succeed())
		Eventually(func() bool {
			return errorsIsNotFound(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "once"}, &corev1.Secret{}))
		}).Should(BeTrue())
		Eventually(integrationReady(ns, "sms-once")).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonCredentialsStored))
		Expect(vaultKV("workspaces/" + ws + "/integrations/sms-once")).To(HaveKeyWithValue("apiKey", "KEY-once-55aa"))
		Eventually(func() []string { return eventsOf("sms-once") }).Should(ContainElement(HavePrefix(tenancyv1.EventSourceSecretRemoved)))
		touch(getIntegration(ns, "sms-once"))
		Consistently(integrationReady(ns, "sms-once"), time.Second).Should(haveStatus(metav1.ConditionTrue, ""))

		By("saying so when Vault loses the only copy")
		Expect(rootVault().KVv2("switchboard").DeleteMetadata(bg, "workspaces/"+ws+"/integrations/sms-once")).To(Succeed())
		touch(getIntegration(ns, "sms-once"))
		Eventually(integrationReady(ns, "sms-once")).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonSecretNotFound),
			HaveField("Message", ContainSubstring("Vault holds no credentials"))))
		Expect(getIntegration(ns, "sms-once").Status.Phase).To(Equal(tenancyv1.IntegrationFailed))
	})

	It("destroys the credentials when the Integration is deleted", func() {
		path := "workspaces/" + ws + "/integrations/gone"
		Expect(k8s.Create(bg, telnyxSecret(ns, "gone", "KEY-gone-91"))).To(Succeed())
		Expect(k8s.Create(bg, telnyxIntegration(ns, "gone", "gone"))).To(Succeed())
		Eventually(integrationReady(ns, "gone")).Should(haveStatus(metav1.ConditionTrue, ""))
		Expect(k8s.Delete(bg, getIntegration(ns, "gone"))).To(Succeed())
		Eventually(func() bool {
			return errorsIsNotFound(k8s.Get(bg, client.ObjectKey{Namespace: ns, Name: "gone"}, &tenancyv1.Integration{}))
		}).Should(BeTrue())
		Expect(kvMetadata(path)).To(BeNil())
		Eventually(func() []string { return eventsOf("gone") }).Should(ContainElement(HavePrefix(tenancyv1.EventCredentialsDestroyed)))
	})

	It("reports a missing Secret, and missing keys without their values", func() {
		Expect(k8s.Create(bg, telnyxIntegration(ns, "nosecret", "absent"))).To(Succeed())
		Eventually(integrationReady(ns, "nosecret")).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonSecretNotFound),
			HaveField("Message", ContainSubstring("absent"))))

		Expect(k8s.Create(bg, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "partial"},
			StringData: map[string]string{"apiKey": "KEY-partial-3c1d"},
		})).To(Succeed())
		Expect(k8s.Create(bg, telnyxIntegration(ns, "partial", "partial"))).To(Succeed())
		Eventually(integrationReady(ns, "partial")).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonMissingCredentialKeys),
			HaveField("Message", ContainSubstring("publicKey"))))
		expectNoSecret([]string{"KEY-partial-3c1d"}, toJSON(getIntegration(ns, "partial")))
		Expect(kvMetadata("workspaces/" + ws + "/integrations/partial")).To(BeNil())

		By("importing once the Secret is complete")
		update(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "partial"}},
			func(s *corev1.Secret) { s.Data["publicKey"] = []byte("pk") })
		Eventually(integrationReady(ns, "partial")).Should(haveStatus(metav1.ConditionTrue, ""))
	})

	It("rejects an Integration in a namespace no Workspace owns", func() {
		stray := uniqueName("stray")
		Expect(k8s.Create(bg, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: stray}})).To(Succeed())
		Expect(k8s.Create(bg, telnyxSecret(stray, "c", "KEY-stray-11"))).To(Succeed())
		Expect(k8s.Create(bg, telnyxIntegration(stray, "sms", "c"))).To(Succeed())
		Eventually(integrationReady(stray, "sms")).Should(SatisfyAll(
			haveStatus(metav1.ConditionFalse, tenancyv1.ReasonNoWorkspace),
			HaveField("Message", ContainSubstring(stray))))

		By("and in a look-alike ws- namespace the operator did not create")
		fake := "ws-" + uniqueName("fake")
		Expect(k8s.Create(bg, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fake}})).To(Succeed())
		Expect(k8s.Create(bg, telnyxSecret(fake, "c", "KEY-fake-22"))).To(Succeed())
		Expect(k8s.Create(bg, telnyxIntegration(fake, "sms", "c"))).To(Succeed())
		Eventually(integrationReady(fake, "sms")).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonNoWorkspace))
		list, err := rootVault().Logical().List("switchboard/metadata/workspaces/" + strings.TrimPrefix(fake, "ws-"))
		Expect(err).NotTo(HaveOccurred())
		Expect(list).To(BeNil())
	})
})
