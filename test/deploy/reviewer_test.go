package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/switchboard-dev/switchboard/test/harness"
)

// checkVaultReviewer checks that Vault's TokenReview credential is a
// ServiceAccount of its own, bound to system:auth-delegator only, that the
// operator's ServiceAccount may not review tokens, and that the Deployment
// hands the reviewer's token, not its own, to Vault.
func checkVaultReviewer(ctx context.Context, t *testing.T, admin client.Client, objs []*unstructured.Unstructured, dep *appsv1.Deployment) {
	ns, operatorSA := dep.Namespace, dep.Spec.Template.Spec.ServiceAccountName

	// The file the operator passes to Vault, traced to the Secret it comes from.
	var jwtFile string
	for _, a := range dep.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--vault-kubernetes-reviewer-jwt-file="); ok {
			jwtFile = v
		}
	}
	if jwtFile == "" {
		t.Fatal("the Deployment passes no --vault-kubernetes-reviewer-jwt-file")
	}
	secretName := ""
	for _, vm := range dep.Spec.Template.Spec.Containers[0].VolumeMounts {
		rel, ok := strings.CutPrefix(jwtFile, vm.MountPath+"/")
		if !ok {
			continue
		}
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name || v.Projected == nil {
				continue
			}
			for _, src := range v.Projected.Sources {
				if src.Secret == nil {
					continue
				}
				for _, it := range src.Secret.Items {
					if it.Path == rel && it.Key == corev1.ServiceAccountTokenKey {
						secretName = src.Secret.Name
					}
				}
			}
		}
	}
	if secretName == "" {
		t.Fatalf("--vault-kubernetes-reviewer-jwt-file=%s is not the token key of a Secret mounted into the pod", jwtFile)
	}
	var reviewer string
	for _, o := range objs {
		if o.GetKind() == "Secret" && o.GetName() == secretName && o.GetNamespace() == ns {
			if typ, _, _ := unstructured.NestedString(o.Object, "type"); typ != string(corev1.SecretTypeServiceAccountToken) {
				t.Fatalf("Secret %s has type %q, want %s", secretName, typ, corev1.SecretTypeServiceAccountToken)
			}
			reviewer = o.GetAnnotations()[corev1.ServiceAccountNameKey]
		}
	}
	if reviewer == "" {
		t.Fatalf("the installation has no token Secret %s/%s for a ServiceAccount", ns, secretName)
	}
	if reviewer == operatorSA {
		t.Fatalf("Vault's reviewer token is the operator's own ServiceAccount's (%s)", operatorSA)
	}

	// kube-controller-manager's token controller fills the Secret.
	waitFor(t, "the token controller to fill Secret "+secretName, func() error {
		s := &corev1.Secret{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: secretName}, s); err != nil {
			return err
		}
		if len(s.Data[corev1.ServiceAccountTokenKey]) == 0 {
			return fmt.Errorf("no token yet")
		}
		return nil
	})

	// Bindings, as the API server holds them.
	bound := map[string][]string{} // ServiceAccount -> roles it is bound to
	var crbs rbacv1.ClusterRoleBindingList
	var rbs rbacv1.RoleBindingList
	if err := admin.List(ctx, &crbs); err != nil {
		t.Fatal(err)
	}
	if err := admin.List(ctx, &rbs); err != nil {
		t.Fatal(err)
	}
	add := func(subjects []rbacv1.Subject, ref rbacv1.RoleRef) {
		for _, s := range subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Namespace == ns {
				bound[s.Name] = append(bound[s.Name], ref.Kind+"/"+ref.Name)
			}
		}
	}
	for _, b := range crbs.Items {
		add(b.Subjects, b.RoleRef)
	}
	for _, b := range rbs.Items {
		add(b.Subjects, b.RoleRef)
	}
	if want := []string{"ClusterRole/system:auth-delegator"}; !slices.Equal(bound[reviewer], want) {
		t.Errorf("ServiceAccount %s/%s is bound to %v, want exactly %v", ns, reviewer, bound[reviewer], want)
	}
	if slices.Contains(bound[operatorSA], "ClusterRole/system:auth-delegator") {
		t.Errorf("the operator's ServiceAccount %s/%s is still bound to system:auth-delegator (%v)", ns, operatorSA, bound[operatorSA])
	}

	// What each may do, as the authorizer answers.
	may := func(sa string, attrs authorizationv1.ResourceAttributes) bool {
		t.Helper()
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:" + ns + ":" + sa,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
			ResourceAttributes: &attrs,
		}}
		if err := admin.Create(ctx, sar); err != nil {
			t.Fatal(err)
		}
		return sar.Status.Allowed
	}
	tokenReviews := authorizationv1.ResourceAttributes{Group: "authentication.k8s.io", Resource: "tokenreviews", Verb: "create"}
	accessReviews := authorizationv1.ResourceAttributes{Group: "authorization.k8s.io", Resource: "subjectaccessreviews", Verb: "create"}
	for _, c := range []struct {
		sa    string
		attrs authorizationv1.ResourceAttributes
		want  bool
	}{
		{reviewer, tokenReviews, true},
		{reviewer, accessReviews, true},
		{reviewer, authorizationv1.ResourceAttributes{Resource: "secrets", Verb: "get", Namespace: ns}, false},
		{reviewer, authorizationv1.ResourceAttributes{Resource: "secrets", Verb: "list"}, false},
		{operatorSA, tokenReviews, false},
		{operatorSA, accessReviews, false},
	} {
		if got := may(c.sa, c.attrs); got != c.want {
			t.Errorf("%s may %s %s/%s: %v, want %v", c.sa, c.attrs.Verb, c.attrs.Group, c.attrs.Resource, got, c.want)
		}
	}
}

// startTokenController runs kube-controller-manager's token controller, which
// fills Secrets of type kubernetes.io/service-account-token (the reviewer's),
// signed with the key the API server verifies ServiceAccount tokens with.
func startTokenController(t *testing.T, stack *harness.Stack, dir string) *harness.Process {
	t.Helper()
	certDir := stack.Env.ControlPlane.APIServer.CertDir
	p, err := harness.StartBinary("kube-controller-manager", filepath.Join(dir, "kube-controller-manager.log"),
		"--kubeconfig="+stack.Kubeconfig, "--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false",
		"--controllers=serviceaccount-token-controller",
		"--service-account-private-key-file="+filepath.Join(certDir, "sa-signer.key"),
		"--root-ca-file="+filepath.Join(stack.StateDir, "kube-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
