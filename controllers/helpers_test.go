package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/receipts"
	"github.com/switchboard-dev/switchboard/test/harness"
)

var bg = context.Background()

func newWorkspace(name string) *tenancyv1.Workspace {
	return &tenancyv1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: tenancyv1.WorkspaceSpec{
			DisplayName:    "Test " + name,
			Owner:          tenancyv1.WorkspaceOwner{Email: "owner@" + name + ".example", Name: "Owner"},
			DatabaseServer: "eu-1",
		},
	}
}

func getWS(name string) *tenancyv1.Workspace {
	ws := &tenancyv1.Workspace{}
	Expect(k8s.Get(bg, client.ObjectKey{Name: name}, ws)).To(Succeed())
	return ws
}

// condition returns a condition of the workspace, polled.
func condition(name, condType string) func() *metav1.Condition {
	return func() *metav1.Condition {
		ws := &tenancyv1.Workspace{}
		if err := k8s.Get(bg, client.ObjectKey{Name: name}, ws); err != nil {
			return nil
		}
		return meta.FindStatusCondition(ws.Status.Conditions, condType)
	}
}

func haveStatus(status metav1.ConditionStatus, reason string) OmegaMatcher {
	m := []OmegaMatcher{Not(BeNil()), HaveField("Status", status)}
	if reason != "" {
		m = append(m, HaveField("Reason", reason))
	}
	return SatisfyAll(m...)
}

// rollOut plays the Deployment controller envtest does not run: it reports
// the runtime's desired replicas as available.
func rollOut(name string) {
	Eventually(func() error {
		dep := &appsv1.Deployment{}
		if err := k8s.Get(bg, client.ObjectKey{Namespace: "ws-" + name, Name: "runtime"}, dep); err != nil {
			return err
		}
		n := *dep.Spec.Replicas
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		return k8s.Status().Update(bg, dep)
	}).Should(Succeed())
}

// createReady creates a workspace and waits until it is Ready.
func createReady(ws *tenancyv1.Workspace) {
	Expect(k8s.Create(bg, ws)).To(Succeed())
	Eventually(condition(ws.Name, tenancyv1.ConditionRuntimeReady)).Should(haveStatus(metav1.ConditionFalse, tenancyv1.ReasonRolloutInProgress))
	rollOut(ws.Name)
	Eventually(condition(ws.Name, tenancyv1.ConditionReady)).Should(haveStatus(metav1.ConditionTrue, ""))
}

// deleteAndWait deletes a workspace and waits until it is gone.
func deleteAndWait(name string) {
	ws := &tenancyv1.Workspace{}
	if err := k8s.Get(bg, client.ObjectKey{Name: name}, ws); err != nil {
		return
	}
	if ws.Spec.LegalHold {
		update(ws, func(ws *tenancyv1.Workspace) { ws.Spec.LegalHold = false })
	}
	Expect(client.IgnoreNotFound(k8s.Delete(bg, ws))).To(Succeed())
	Eventually(func() bool {
		return errorsIsNotFound(k8s.Get(bg, client.ObjectKey{Name: name}, &tenancyv1.Workspace{}))
	}).Should(BeTrue())
}

func errorsIsNotFound(err error) bool {
	return client.IgnoreNotFound(err) == nil && err != nil
}

// rootVault is a Vault client with the root token.
func rootVault() *vaultapi.Client {
	cfg := vaultapi.DefaultConfig()
	cfg.Address = vaultSrv.Addr()
	c, err := vaultapi.NewClient(cfg)
	Expect(err).NotTo(HaveOccurred())
	c.SetToken(harness.RootToken)
	return c
}

func vaultKV(path string) map[string]any {
	s, err := rootVault().KVv2("switchboard").Get(bg, path)
	if err != nil {
		return nil
	}
	return s.Data
}

// vaultExists says whether a Vault path answers a read with data.
func vaultExists(path string) bool {
	s, err := rootVault().Logical().Read(path)
	var re *vaultapi.ResponseError
	if errors.As(err, &re) && re.StatusCode == 404 {
		return false
	}
	Expect(err).NotTo(HaveOccurred())
	return s != nil
}

// pgAdmin runs one query on the test server as the superuser.
func pgAdmin(sql string, args ...any) pgx.Row {
	conn, err := pgx.Connect(bg, pg.AdminDSN())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { conn.Close(bg) })
	return conn.QueryRow(bg, sql, args...)
}

// pgAdminExec runs one statement on the test server as the superuser.
func pgAdminExec(sql string) {
	GinkgoHelper()
	conn, err := pgx.Connect(bg, pg.AdminDSN())
	Expect(err).NotTo(HaveOccurred())
	defer conn.Close(bg)
	_, err = conn.Exec(bg, sql)
	Expect(err).NotTo(HaveOccurred())
}

// forceDeleteNamespace removes a namespace and what is in it at once, as the
// namespace controller (which envtest does not run) would.
func forceDeleteNamespace(name string) {
	GinkgoHelper()
	ns, err := clientset.CoreV1().Namespaces().Get(bg, name, metav1.GetOptions{})
	if errorsIsNotFound(err) {
		return
	}
	Expect(err).NotTo(HaveOccurred())
	// Terminating first: nothing new can be created in it from then on.
	if ns.DeletionTimestamp.IsZero() {
		Expect(clientset.CoreV1().Namespaces().Delete(bg, name, metav1.DeleteOptions{})).To(Succeed())
	}
	var integrations tenancyv1.IntegrationList
	Expect(k8s.List(bg, &integrations, client.InNamespace(name))).To(Succeed())
	for i := range integrations.Items {
		in := &integrations.Items[i]
		update(in, func(in *tenancyv1.Integration) { in.Finalizers = nil })
	}
	for _, o := range []client.Object{
		&tenancyv1.Integration{}, &corev1.ServiceAccount{}, &corev1.Secret{}, &corev1.ConfigMap{}, &corev1.Service{},
		&corev1.ResourceQuota{}, &corev1.LimitRange{}, &appsv1.Deployment{}, &networkingv1.NetworkPolicy{},
		&networkingv1.Ingress{}, &policyv1.PodDisruptionBudget{},
	} {
		Expect(client.IgnoreNotFound(k8s.DeleteAllOf(bg, o, client.InNamespace(name)))).To(Succeed())
	}
	Eventually(func() error {
		ns, err := clientset.CoreV1().Namespaces().Get(bg, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ns.Spec.Finalizers = nil
		_, err = clientset.CoreV1().Namespaces().Finalize(bg, ns, metav1.UpdateOptions{})
		return err
	}).Should(Succeed())
	Eventually(func() bool {
		_, err := clientset.CoreV1().Namespaces().Get(bg, name, metav1.GetOptions{})
		return errorsIsNotFound(err)
	}).Should(BeTrue())
}

// runtimeToken is a token of ServiceAccount runtime in namespace ns, for
// Vault (audience vault), as the runtime's projected token is.
func runtimeToken(ns string) string {
	GinkgoHelper()
	tr, err := clientset.CoreV1().ServiceAccounts(ns).CreateToken(bg, "runtime", &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{Audiences: []string{"vault"}, ExpirationSeconds: ptr.To(int64(600))},
	}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

// receiptLog reads the operator's hash-chained receipt log.
func receiptLog() *receipts.Log { return receipts.New(k8s, receiptsNamespace, receipts.Options{}) }

// receiptOf is the deletion receipt of a workspace, as indented JSON: the
// details of the last workspace.deleted entry of the receipt log for it.
func receiptOf(name string) string {
	GinkgoHelper()
	var buf bytes.Buffer
	Expect(receiptLog().Export(bg, &buf)).To(Succeed())
	var entries []receipts.Entry
	Expect(json.Unmarshal(buf.Bytes(), &entries)).To(Succeed())
	for i := len(entries) - 1; i >= 0; i-- {
		if e := entries[i]; e.Kind == receipts.KindWorkspaceDeleted && e.Workspace == name {
			return indentJSON(e.Details)
		}
	}
	Fail("no deletion receipt for workspace " + name + " in the receipt log")
	return ""
}

// receiptsOfKind lists the receipt log's entries of one kind.
func receiptsOfKind(kind string) []receipts.Entry {
	GinkgoHelper()
	var buf bytes.Buffer
	Expect(receiptLog().Export(bg, &buf)).To(Succeed())
	var entries, out []receipts.Entry
	Expect(json.Unmarshal(buf.Bytes(), &entries)).To(Succeed())
	for _, e := range entries {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// chainEntry is the details, as indented JSON, of the receipt recorded under
// an idempotency key ("" if there is none).
func chainEntry(key string) string {
	GinkgoHelper()
	e, ok, err := receiptLog().Lookup(bg, key)
	Expect(err).NotTo(HaveOccurred())
	if !ok {
		return ""
	}
	return indentJSON(e.Details)
}

func indentJSON(raw []byte) string {
	var out bytes.Buffer
	Expect(json.Indent(&out, raw, "", "  ")).To(Succeed())
	return out.String()
}

func pgExists(name string) (db, role bool) {
	Expect(pgAdmin(`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname=$1), EXISTS (SELECT 1 FROM pg_roles WHERE rolname=$1)`, name).Scan(&db, &role)).To(Succeed())
	return db, role
}

// eventsOf lists the events recorded about a named object.
func eventsOf(name string) []string {
	list, err := clientset.EventsV1().Events("").List(bg, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e.Reason+": "+e.Note)
		}
	}
	return out
}

// expectNoSecret checks that none of the secrets appears in any of the texts.
func expectNoSecret(secrets []string, texts ...string) {
	for _, s := range secrets {
		if len(s) < 6 {
			continue
		}
		for _, t := range texts {
			Expect(strings.Contains(t, s)).To(BeFalse(), "a secret leaked into: %s", t)
		}
	}
}

func toJSON(v any) string {
	b, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// touchIfThere touches o unless the operator has removed it already.
func touchIfThere(o client.Object) {
	GinkgoHelper()
	if err := k8s.Get(bg, client.ObjectKeyFromObject(o), o); errorsIsNotFound(err) {
		return
	}
	patch := client.MergeFrom(o.DeepCopyObject().(client.Object))
	ann := o.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann["test.switchboard.dev/touched"] = time.Now().Format(time.RFC3339Nano)
	o.SetAnnotations(ann)
	Expect(client.IgnoreNotFound(k8s.Patch(bg, o, patch))).To(Succeed())
}

// touch changes an annotation, which makes the operator reconcile.
func touch(o client.Object) {
	Expect(k8s.Get(bg, client.ObjectKeyFromObject(o), o)).To(Succeed())
	patch := client.MergeFrom(o.DeepCopyObject().(client.Object))
	ann := o.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann["test.switchboard.dev/touched"] = time.Now().Format(time.RFC3339Nano)
	o.SetAnnotations(ann)
	Expect(k8s.Patch(bg, o, patch)).To(Succeed())
}

type (
	vaultTokenRequest = vaultapi.TokenCreateRequest
	vaultSecret       = vaultapi.Secret
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// rootVaultNoToken is a Vault client with no token, for logins.
func rootVaultNoToken() *vaultapi.Client {
	c := rootVault()
	c.ClearToken()
	return c
}

// deletionHook, when set, runs before each deletion step of the operator.
var deletionHook func(ctx context.Context, ws, step string)

func toTypeName(o client.Object) string { return fmt.Sprintf("%T", o) }

// update reads the latest copy of obj, applies mutate and writes it back,
// retrying when the operator updated the object in between.
func update[T client.Object](obj T, mutate func(T)) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if err := k8s.Get(bg, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		return k8s.Update(bg, obj)
	})).To(Succeed())
}

// settle waits until the operator has stopped writing: neither the workspace
// nor the external write counter changes for a whole second.
func settle(name string) {
	GinkgoHelper()
	waitStable(func() string { return fmt.Sprint(getWS(name).ResourceVersion, "/", writes.total()) })
}

// settleWrites waits until no external write (Postgres, Vault) has happened
// for a whole second, whichever workspace it was for.
func settleWrites() {
	GinkgoHelper()
	waitStable(func() string { return fmt.Sprint(writes.total()) })
}

// waitStable waits until state returns the same value for a whole second.
func waitStable(state func() string) {
	GinkgoHelper()
	last, since := state(), time.Now()
	Eventually(func() time.Duration {
		if now := state(); now != last {
			last, since = now, time.Now()
		}
		return time.Since(since)
	}, 30*time.Second, 100*time.Millisecond).Should(BeNumerically(">=", time.Second))
}

// gauge reads a gauge vector with a "phase" label from the operator's
// metrics registry, by phase.
func gauge(g Gomega, name string) map[string]float64 {
	families, err := metrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "phase" {
					out[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}
