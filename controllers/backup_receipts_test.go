package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// A month of purges that outgrows one ConfigMap continues in the next, each
// under the API server's object limit, and no receipt is written twice.
func TestReceiptsRollOver(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(Scheme()).Build()
	r := &BackupExpiryReconciler{Client: c, APIReader: c, ReceiptsNamespace: "switchboard-system"}
	ctx := context.Background()
	body := strings.Repeat("x", 2500)
	const n = 800
	for i := 0; i < n; i++ {
		if err := r.addToConfigMap(ctx, "backups-acme-1234abcd-202612", "acme", nil, fmt.Sprintf("b-%d.json", i), body); err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
	}
	// Writing one again changes nothing.
	if err := r.addToConfigMap(ctx, "backups-acme-1234abcd-202612", "acme", nil, "b-7.json", "other"); err != nil {
		t.Fatal(err)
	}
	var list corev1.ConfigMapList
	if err := c.List(ctx, &list, client.InNamespace("switchboard-system")); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 3 {
		t.Fatalf("want the receipts in 3 ConfigMaps, got %d", len(list.Items))
	}
	seen := map[string]int{}
	for _, cm := range list.Items {
		size := 0
		for k, v := range cm.Data {
			size += len(k) + len(v)
			seen[k]++
			if k == "b-7.json" && v != body {
				t.Errorf("receipt b-7.json was overwritten")
			}
		}
		if size > 1<<20-64<<10 {
			t.Errorf("%s holds %d bytes, too close to the 1 MiB limit", cm.Name, size)
		}
	}
	if len(seen) != n {
		t.Fatalf("want %d receipts, got %d", n, len(seen))
	}
	for k, times := range seen {
		if times != 1 {
			t.Errorf("receipt %s is in %d ConfigMaps", k, times)
		}
	}
}
