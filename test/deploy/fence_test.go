package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// squatted is a ws-* namespace that someone other than the operator made, as
// anyone who may create namespaces can.
const squatted = "ws-squat"

// checkWriteFence tries, as the operator's ServiceAccount, the writes that the
// installation's ValidatingAdmissionPolicy must refuse and those it must
// allow. RBAC allows every one of them (the ClusterRole is cluster-wide), so a
// refusal can only come from the policy; each must name the policy and the
// namespace.
func checkWriteFence(ctx context.Context, t *testing.T, stack *harness.Stack, admin client.Client, objs []*unstructured.Unstructured, ns, sa string) {
	policy := boundPolicy(t, objs, "-write-fence")
	op := clientAs(ctx, t, stack, ns, sa)

	// The namespaces to write in, made by an administrator: one the operator
	// could have made (it carries the mark), and one squatted.
	marked := "ws-fence-" + ns
	for _, n := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: marked, Annotations: map[string]string{tenancyv1.AnnotationWorkspaceUID: "0d4f3c1e-fence"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: squatted, Labels: map[string]string{tenancyv1.LabelWorkspace: "squat"}}},
	} {
		if err := admin.Create(ctx, n); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}

	denied := func(t *testing.T, err error, namespace string, says ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("allowed, want refused by the write fence")
		}
		if !apierrors.IsForbidden(err) {
			t.Fatalf("want Forbidden by the write fence, got %v", err)
		}
		for _, s := range append([]string{"ValidatingAdmissionPolicy '" + policy + "'", "namespace " + namespace}, says...) {
			if !strings.Contains(err.Error(), s) {
				t.Fatalf("the refusal does not say %q: %v", s, err)
			}
		}
	}

	// The API server loads a new policy asynchronously: wait until it refuses.
	waitFor(t, "the write fence to be enforced", func() error {
		err := op.Create(ctx, fenceSecret("default"), client.DryRunAll)
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), policy) {
			return nil
		}
		return fmt.Errorf("a Secret in default: %v", err)
	})

	kinds := map[string]func(namespace string) client.Object{
		"Secret":         func(n string) client.Object { return fenceSecret(n) },
		"ServiceAccount": func(n string) client.Object { return fenceServiceAccount(n) },
		"Deployment":     func(n string) client.Object { return fenceDeployment(n) },
	}
	for kind, obj := range kinds {
		for _, n := range []string{"kube-system", "default", squatted} {
			t.Run(fmt.Sprintf("a %s in %s is refused", kind, n), func(t *testing.T) {
				var says []string
				if n == squatted {
					says = append(says, "lacks the annotation "+tenancyv1.AnnotationWorkspaceUID)
				}
				denied(t, op.Create(ctx, obj(n)), n, says...)
			})
		}
		for _, n := range []string{marked, ns} {
			t.Run(fmt.Sprintf("a %s in %s is allowed", kind, n), func(t *testing.T) {
				o := obj(n)
				if err := op.Create(ctx, o); err != nil {
					t.Fatalf("creating: %v", err)
				}
				if err := op.Delete(ctx, o); err != nil {
					t.Fatalf("deleting: %v", err)
				}
			})
		}
	}
	t.Run("a change to a Secret in kube-system is refused", func(t *testing.T) {
		s := &corev1.Secret{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: "fence-target"}, s); apierrors.IsNotFound(err) {
			s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "fence-target"}}
			if err := admin.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		s.StringData = map[string]string{"stolen": "yes"}
		denied(t, op.Update(ctx, s), "kube-system")
		denied(t, op.Delete(ctx, s), "kube-system")
	})

	t.Run("an unmarked ws- namespace cannot be created", func(t *testing.T) {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ws-x"}}
		denied(t, op.Create(ctx, n), "ws-x", "lacks it")
	})
	t.Run("a marked namespace outside ws- cannot be created", func(t *testing.T) {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fence-" + ns, Annotations: map[string]string{tenancyv1.AnnotationWorkspaceUID: "x"}}}
		denied(t, op.Create(ctx, n), "fence-"+ns, "not a workspace namespace")
	})
	t.Run("a marked ws- namespace can be created and deleted", func(t *testing.T) {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ws-fence-new-" + ns, Annotations: map[string]string{tenancyv1.AnnotationWorkspaceUID: "x"}}}
		if err := op.Create(ctx, n); err != nil {
			t.Fatalf("creating: %v", err)
		}
		if err := op.Delete(ctx, n); err != nil {
			t.Fatalf("deleting: %v", err)
		}
	})
	t.Run("its own namespace passes the fence", func(t *testing.T) {
		// It exists, so the create gets as far as storage: past admission.
		err := op.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		if !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating namespace %s again: want AlreadyExists from storage, got %v", ns, err)
		}
	})
	t.Run("an unmarked namespace cannot be deleted", func(t *testing.T) {
		// Not kube-system or default: the NamespaceLifecycle admission plugin
		// refuses to delete those before any policy is asked.
		other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fence-other"}}
		if err := admin.Create(ctx, other); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		denied(t, op.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: squatted}}), squatted, "did not carry it")
		denied(t, op.Delete(ctx, other), other.Name, "not a workspace namespace")
	})
	t.Run("an unmarked ws- namespace cannot be adopted by marking it", func(t *testing.T) {
		n := &corev1.Namespace{}
		if err := admin.Get(ctx, client.ObjectKey{Name: squatted}, n); err != nil {
			t.Fatal(err)
		}
		n.Annotations = map[string]string{tenancyv1.AnnotationWorkspaceUID: "adopted"}
		denied(t, op.Update(ctx, n), squatted, "may not adopt a namespace")
		patch := client.RawPatch("application/merge-patch+json",
			[]byte(`{"metadata":{"annotations":{"`+tenancyv1.AnnotationWorkspaceUID+`":"adopted"}}}`))
		denied(t, op.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: squatted}}, patch), squatted, "may not adopt a namespace")
	})
	t.Run("cluster-scoped writes other than namespaces pass the fence", func(t *testing.T) {
		// RBAC alone decides those, such as the operator's updates of
		// Workspaces. The Workspace is gone before any operator runs.
		ws := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "fence-" + ns}, Spec: tenancyv1.WorkspaceSpec{
			Owner: tenancyv1.WorkspaceOwner{Email: "owner@fence.example"}, DatabaseServer: "main"}}
		if err := admin.Create(ctx, ws); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = admin.Delete(ctx, ws) }()
		patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"fence":"checked"}}}`))
		if err := op.Patch(ctx, ws, patch, client.DryRunAll); err != nil {
			t.Fatalf("the operator's patch of Workspace %s: %v", ws.Name, err)
		}
	})
	t.Run("other users are not fenced", func(t *testing.T) {
		if err := admin.Create(ctx, fenceSecret("default"), client.DryRunAll); err != nil {
			t.Fatalf("an administrator's Secret in default: %v", err)
		}
	})
}

// boundPolicy returns the name of the installation's ValidatingAdmissionPolicy
// whose name ends with suffix, after checking that every policy is bound with
// the Deny action and nothing else is bound.
func boundPolicy(t *testing.T, objs []*unstructured.Unstructured, suffix string) string {
	t.Helper()
	var policies, bindings, named []string
	for _, o := range objs {
		switch o.GetKind() {
		case "ValidatingAdmissionPolicy":
			if o.GetNamespace() != "" {
				t.Errorf("ValidatingAdmissionPolicy %s is cluster-scoped but rendered with namespace %q", o.GetName(), o.GetNamespace())
			}
			policies = append(policies, o.GetName())
			if strings.HasSuffix(o.GetName(), suffix) {
				named = append(named, o.GetName())
			}
		case "ValidatingAdmissionPolicyBinding":
			if o.GetNamespace() != "" {
				t.Errorf("ValidatingAdmissionPolicyBinding %s is cluster-scoped but rendered with namespace %q", o.GetName(), o.GetNamespace())
			}
			b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, b); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(b.Spec.ValidationActions, admissionregistrationv1.Deny) {
				t.Fatalf("binding %s: validationActions %v, want Deny", b.Name, b.Spec.ValidationActions)
			}
			bindings = append(bindings, b.Spec.PolicyName)
		}
	}
	slices.Sort(policies)
	slices.Sort(bindings)
	if !slices.Equal(bindings, policies) {
		t.Fatalf("want each ValidatingAdmissionPolicy bound once, got policies %v bound %v", policies, bindings)
	}
	if len(named) != 1 {
		t.Fatalf("want one ValidatingAdmissionPolicy named *%s, got %v", suffix, named)
	}
	return named[0]
}

// clientAs is a client that authenticates as a ServiceAccount with a token
// from the TokenRequest API, as a pod of that ServiceAccount would.
func clientAs(ctx context.Context, t *testing.T, stack *harness.Stack, ns, sa string) client.Client {
	t.Helper()
	tr, err := stack.Clientset.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a token for ServiceAccount %s/%s: %v", ns, sa, err)
	}
	cfg := &rest.Config{Host: stack.RestConfig.Host, BearerToken: tr.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: stack.RestConfig.CAData}}
	c, err := client.New(cfg, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fenceSecret(ns string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fence-probe"}, StringData: map[string]string{"k": "v"}}
}

func fenceServiceAccount(ns string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fence-probe"}}
}

// fenceDeployment is what an attacker would want the operator to write: a
// pod running as a ServiceAccount of the namespace it lands in.
func fenceDeployment(ns string) *appsv1.Deployment {
	labels := map[string]string{"app": "fence-probe"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fence-probe"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(0)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: "default",
					Containers:         []corev1.Container{{Name: "c", Image: "registry.example/probe:1"}},
				},
			},
		},
	}
}
