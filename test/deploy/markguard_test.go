package deploy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// forger is a cluster user who may create and update namespaces, Secrets and
// ConfigMaps everywhere, but is no cluster admin.
const forger = "mark-forger"

const markGuardSuffix = "-ownership-mark-guard"

// checkMarkGuard writes the ownership mark, and controller references to a
// Workspace, as a user whom RBAC allows every one of those writes, as a member
// of system:masters and as the operator's ServiceAccount. Only the first must
// be refused, by the installation's guard, naming the annotation (or the
// reference) and who may set it.
func checkMarkGuard(ctx context.Context, t *testing.T, stack *harness.Stack, admin client.Client, objs []*unstructured.Unstructured, ns, sa string) {
	policy := boundPolicy(t, objs, markGuardSuffix)
	grantForger(ctx, t, admin)
	user := clientImpersonating(t, stack, forger)
	breakGlass := clientImpersonating(t, stack, "break-glass", "system:masters")
	op := clientAs(ctx, t, stack, ns, sa)

	markedNamespace := func(name, uid string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{tenancyv1.AnnotationWorkspaceUID: uid}}}
	}
	workspaceController := func(uid string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: tenancyv1.GroupVersion.String(), Kind: "Workspace", Name: "forged",
			UID: types.UID(uid), Controller: ptr.To(true)}}
	}
	withMark := func(o client.Object, uid string) client.Object {
		a := o.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[tenancyv1.AnnotationWorkspaceUID] = uid
		o.SetAnnotations(a)
		return o
	}
	denied := func(t *testing.T, err error, says ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("allowed, want refused by the ownership mark guard")
		}
		if !apierrors.IsForbidden(err) {
			t.Fatalf("want Forbidden by the ownership mark guard, got %v", err)
		}
		for _, s := range append([]string{"ValidatingAdmissionPolicy '" + policy + "'", "system:serviceaccount:" + ns + ":" + sa, "members of system:masters"}, says...) {
			if !strings.Contains(err.Error(), s) {
				t.Fatalf("the refusal does not say %q: %v", s, err)
			}
		}
	}
	mark := "may set, change or remove the annotation " + tenancyv1.AnnotationWorkspaceUID
	reference := "may set, change or remove a controller reference to a Workspace"
	get := func(t *testing.T, o client.Object) {
		t.Helper()
		if err := admin.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
	}
	mergePatch := func(body string) client.Patch {
		return client.RawPatch(types.MergePatchType, []byte(body))
	}

	// The API server loads a new policy asynchronously, and RBAC its new
	// binding: wait until the guard, not RBAC, refuses.
	waitFor(t, "the ownership mark guard to be enforced", func() error {
		err := user.Create(ctx, markedNamespace("ws-guard-probe", "x"), client.DryRunAll)
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), policy) {
			return nil
		}
		return fmt.Errorf("a marked namespace created as %s: %v", forger, err)
	})

	// A namespace the operator could have made, made by an administrator.
	theirs := markedNamespace("ws-guard-marked-"+ns, "0d4f3c1e-guard")
	if err := admin.Create(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	// A namespace the user makes, as they may.
	own := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ws-guard-" + ns}}

	t.Run("a non-admin cannot create a namespace with the mark", func(t *testing.T) {
		for _, uid := range []string{"0d4f3c1e-forged", ""} {
			n := markedNamespace("ws-guard-forged-"+ns, uid)
			denied(t, user.Create(ctx, n), mark, "would set it", "namespaces ws-guard-forged-"+ns)
		}
		n := markedNamespace("guard-forged-"+ns, "0d4f3c1e-forged")
		denied(t, user.Create(ctx, n), mark, "would set it")
	})
	t.Run("a non-admin can create and change a namespace without the mark", func(t *testing.T) {
		if err := user.Create(ctx, own); err != nil {
			t.Fatalf("creating namespace %s: %v", own.Name, err)
		}
		if err := user.Patch(ctx, own, mergePatch(`{"metadata":{"labels":{"team":"a"},"annotations":{"note":"b"}}}`)); err != nil {
			t.Fatalf("labelling namespace %s: %v", own.Name, err)
		}
	})
	t.Run("a non-admin cannot add the mark to a namespace", func(t *testing.T) {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: own.Name}}
		get(t, n)
		withMark(n, "0d4f3c1e-forged")
		denied(t, user.Update(ctx, n), mark, "would add it", "namespaces "+own.Name)
		denied(t, user.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: own.Name}},
			mergePatch(`{"metadata":{"annotations":{"`+tenancyv1.AnnotationWorkspaceUID+`":"0d4f3c1e-forged"}}}`)), mark, "would add it")
	})
	t.Run("a non-admin cannot change or remove the mark on a namespace", func(t *testing.T) {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: theirs.Name}}
		get(t, n)
		withMark(n, "0d4f3c1e-forged")
		denied(t, user.Update(ctx, n), mark, "would change it", "namespaces "+theirs.Name)
		get(t, n)
		delete(n.Annotations, tenancyv1.AnnotationWorkspaceUID)
		denied(t, user.Update(ctx, n), mark, "would remove it")
		denied(t, user.Patch(ctx, n, client.RawPatch(types.JSONPatchType,
			[]byte(`[{"op":"remove","path":"/metadata/annotations/`+strings.ReplaceAll(tenancyv1.AnnotationWorkspaceUID, "/", "~1")+`"}]`))), mark, "would remove it")
		// Anything else about a marked namespace stays theirs to change.
		if err := user.Patch(ctx, n, mergePatch(`{"metadata":{"labels":{"team":"a"}}}`)); err != nil {
			t.Fatalf("labelling the marked namespace %s: %v", n.Name, err)
		}
	})
	t.Run("a non-admin cannot give a namespace a Workspace as controller", func(t *testing.T) {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ws-guard-forged-" + ns, OwnerReferences: workspaceController("0d4f3c1e-forged")}}
		denied(t, user.Create(ctx, n), reference, "would set one")
		n = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: own.Name}}
		get(t, n)
		n.OwnerReferences = workspaceController("0d4f3c1e-forged")
		denied(t, user.Update(ctx, n), reference, "would add one")
	})
	t.Run("a non-admin cannot mark objects in a ws- namespace", func(t *testing.T) {
		for _, in := range []string{theirs.Name, own.Name} {
			denied(t, user.Create(ctx, withMark(guardSecret(in), "0d4f3c1e-forged")), mark, "would set it", "secrets "+in+"/guard-probe")
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: in, Name: "guard-probe", OwnerReferences: workspaceController("0d4f3c1e-forged")}}
			denied(t, user.Create(ctx, cm), reference, "would set one")

			// An unmarked object is theirs to make and change, but not to mark.
			s := guardSecret(in)
			if err := user.Create(ctx, s); err != nil {
				t.Fatalf("an unmarked Secret in %s: %v", in, err)
			}
			denied(t, user.Update(ctx, withMark(s, "0d4f3c1e-forged")), mark, "would add it")
		}
	})
	t.Run("a non-admin can change an object the operator marked, but not its mark", func(t *testing.T) {
		s := withMark(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: theirs.Name, Name: "guard-marked", OwnerReferences: workspaceController("0d4f3c1e-guard")}}, "0d4f3c1e-guard")
		if err := admin.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := user.Patch(ctx, s, mergePatch(`{"stringData":{"k":"v"},"metadata":{"labels":{"team":"a"}}}`)); err != nil {
			t.Fatalf("changing the marked Secret's data: %v", err)
		}
		denied(t, user.Patch(ctx, s, mergePatch(`{"metadata":{"annotations":{"`+tenancyv1.AnnotationWorkspaceUID+`":null}}}`)), mark, "would remove it")
		denied(t, user.Patch(ctx, s, mergePatch(`{"metadata":{"ownerReferences":null}}`)), reference, "would remove one")
	})
	t.Run("objects outside ws- namespaces are not guarded", func(t *testing.T) {
		// The operator trusts the mark on namespaces and in ws-* namespaces only.
		cm := withMark(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "guard-probe"}}, "0d4f3c1e-forged")
		if err := user.Create(ctx, cm, client.DryRunAll); err != nil {
			t.Fatalf("a marked ConfigMap in default: %v", err)
		}
	})
	t.Run("a member of system:masters may set the mark", func(t *testing.T) {
		// As when marking the namespaces of an operator older than the mark.
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: own.Name}}
		if err := breakGlass.Patch(ctx, n, mergePatch(`{"metadata":{"annotations":{"`+tenancyv1.AnnotationWorkspaceUID+`":"0d4f3c1e-adopted"}}}`)); err != nil {
			t.Fatalf("marking namespace %s: %v", own.Name, err)
		}
		if err := breakGlass.Create(ctx, markedNamespace("ws-guard-admin-"+ns, "0d4f3c1e-admin"), client.DryRunAll); err != nil {
			t.Fatalf("creating a marked namespace: %v", err)
		}
		if err := breakGlass.Create(ctx, withMark(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: own.Name, Name: "guard-admin"}}, "0d4f3c1e-adopted"), client.DryRunAll); err != nil {
			t.Fatalf("creating a marked Secret: %v", err)
		}
	})
	t.Run("kube-controller-manager may copy the mark", func(t *testing.T) {
		// The deployment controller copies a Deployment's annotations, the
		// mark included, onto each ReplicaSet it makes.
		kcm := clientImpersonating(t, stack, "system:serviceaccount:kube-system:deployment-controller")
		labels := map[string]string{"app": "guard-probe"}
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: theirs.Name, Name: "runtime-5d8f7c", OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "Deployment", Name: "runtime", UID: "0d4f3c1e-dep", Controller: ptr.To(true)}}},
			Spec: appsv1.ReplicaSetSpec{
				Replicas: ptr.To(int32(0)),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.example/probe:1"}}},
				},
			},
		}
		if err := kcm.Create(ctx, withMark(rs, "0d4f3c1e-guard"), client.DryRunAll); err != nil {
			t.Fatalf("creating a marked ReplicaSet in %s: %v", theirs.Name, err)
		}
	})
	t.Run("the operator may set the mark", func(t *testing.T) {
		if err := op.Create(ctx, markedNamespace("ws-guard-operator-"+ns, "0d4f3c1e-op"), client.DryRunAll); err != nil {
			t.Fatalf("creating a marked namespace: %v", err)
		}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: theirs.Name, Name: "guard-operator", OwnerReferences: workspaceController("0d4f3c1e-guard")}}
		if err := op.Create(ctx, withMark(s, "0d4f3c1e-guard"), client.DryRunAll); err != nil {
			t.Fatalf("creating a marked Secret in %s: %v", theirs.Name, err)
		}
	})
}

// removeMarkGuard deletes the installation's guard and waits until the API
// server no longer enforces it. One installation per cluster is what the
// guard expects: it lets only its own operator write the mark, so another
// installation's operator would be refused.
func removeMarkGuard(ctx context.Context, t *testing.T, stack *harness.Stack, admin client.Client, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if strings.HasPrefix(o.GetKind(), "ValidatingAdmissionPolicy") && strings.HasSuffix(o.GetName(), markGuardSuffix) {
			if err := admin.Delete(ctx, o.DeepCopy()); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("removing %s %s: %v", o.GetKind(), o.GetName(), err)
				return
			}
		}
	}
	grantForger(ctx, t, admin)
	user := clientImpersonating(t, stack, forger)
	waitFor(t, "the ownership mark guard to be gone", func() error {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ws-guard-probe",
			Annotations: map[string]string{tenancyv1.AnnotationWorkspaceUID: "x"}}}
		return user.Create(ctx, n, client.DryRunAll)
	})
}

// grantForger lets the forger create and update namespaces, Secrets and
// ConfigMaps in every namespace, so that only admission can refuse them.
func grantForger(ctx context.Context, t *testing.T, admin client.Client) {
	t.Helper()
	verbs := []string{"get", "create", "update", "patch"}
	for _, o := range []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: forger}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces", "secrets", "configmaps"}, Verbs: verbs},
		}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: forger},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: forger},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: forger}}},
	} {
		if err := admin.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// clientImpersonating is a client that acts as user, in groups (and
// system:authenticated) only.
func clientImpersonating(t *testing.T, stack *harness.Stack, user string, groups ...string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(stack.RestConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	c, err := client.New(cfg, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func guardSecret(ns string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "guard-probe"}, StringData: map[string]string{"k": "v"}}
}
