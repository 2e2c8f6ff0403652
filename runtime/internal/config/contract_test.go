package config_test

import (
	"net/netip"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/specs"
	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/config"
)

// TestOperatorEnvironment feeds the environment the operator writes on a
// runtime Deployment into the runtime's own configuration: a name changed on
// one side only fails here, not in every tenant.
func TestOperatorEnvironment(t *testing.T) {
	ws := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "acme", UID: "0d1e2f30-4a5b-4c6d-8e9f-a0b1c2d3e4f5"}, Spec: tenancyv1.WorkspaceSpec{
		DisplayName: "Acme Inc.", Plan: tenancyv1.PlanPro, DatabaseServer: "eu-1"}}
	s := specs.Settings{BaseDomain: "inbox.example.com", URLScheme: "https", VaultAddress: "http://vault.vault.svc:8200",
		VaultAuthMount: "k8s", VaultKVMount: "sb", TrustedProxies: "10.0.0.0/8",
		DatabaseRegion: map[string]string{"eu-1": "EU (Frankfurt)", "us-1": "US East"}}
	env := map[string]string{}
	policy := &tenancyv1.RetentionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "gdpr-standard"},
		Spec: tenancyv1.RetentionPolicySpec{DataSubjectRequests: tenancyv1.DataSubjectRequests{Deadline: "14d"},
			Backups:     tenancyv1.BackupRetention{RetainFor: "35d", AfterDeletion: "60d", ShredOnDelete: true},
			Credentials: tenancyv1.CredentialsRetention{AfterDisconnect: "72h"}},
		Status: tenancyv1.RetentionPolicyStatus{EnforcedCategories: []tenancyv1.CategoryRetention{
			{Category: "conversations", RetainFor: "730d"}, {Category: "usageEvents", RetainFor: "1095d", Action: tenancyv1.RetentionAnonymize}}}}
	for _, e := range append(append(specs.RuntimeEnv(ws, s), specs.RetentionEnv(policy)...), corev1.EnvVar{Name: contract.EnvBackups, Value: "false"}) {
		env[e.Name] = e.Value
	}
	c, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the runtime refuses the operator's environment: %v", err)
	}
	got := map[string]any{
		"workspace": c.Workspace, "displayName": c.DisplayName, "plan": c.Plan, "url": c.PublicURL.String(),
		"listen": c.ListenAddr, "vault": c.VaultAddr, "authMount": c.VaultAuthMount, "authRole": c.VaultAuthRole,
		"kvMount": c.VaultKVMount, "path": c.VaultPath, "tokenPath": c.VaultTokenPath, "proxies": c.TrustedProxies,
		"ledger": c.ErasureLedger, "policy": c.RetentionPolicy, "retention": c.Retention, "dsr": c.DSRDeadline,
		"backups": c.BackupRetainFor, "afterDeletion": c.BackupAfterDeletion, "shred": c.BackupShredOnDelete,
		"afterDisconnect": c.CredentialsAfterDisconnect, "region": c.Region, "noBackups": c.NoBackups,
	}
	want := map[string]any{
		"workspace": "acme", "displayName": "Acme Inc.", "plan": "pro", "url": "https://acme.inbox.example.com",
		"listen": ":8080", "vault": "http://vault.vault.svc:8200", "authMount": "k8s", "authRole": ws.VaultName(),
		"kvMount": "sb", "path": ws.VaultPath(), "tokenPath": specs.VaultTokenPath, "proxies": []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		"ledger": "erasures/ws-acme-0d1e2f30-4a5b-4c6d-8e9f-a0b1c2d3e4f5",
		"policy": "gdpr-standard", "retention": "conversations=730d:Delete,usageEvents=1095d:Anonymize", "dsr": "14d",
		"backups": "35d", "afterDeletion": "60d", "shred": true, "afterDisconnect": "72h", "region": "EU (Frankfurt)", "noBackups": true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the runtime read\n %v\nwant\n %v", got, want)
	}
}
