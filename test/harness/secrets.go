package harness

import (
	"context"
	"fmt"
	"sort"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// WorkspaceSecrets collects the secret values the operator made for a
// workspace: its database credentials in Vault and the first owner's one-time
// password. Tests check that none of them shows up in a log, a status or an
// event. Keys are where each value came from, never the value itself.
func (s *Stack) WorkspaceSecrets(ctx context.Context, workspace string) (map[string]string, error) {
	out := map[string]string{}
	v, err := vaultapi.NewClient(&vaultapi.Config{Address: s.Vault.Addr()})
	if err != nil {
		return nil, err
	}
	v.SetToken(RootToken)
	kv, err := v.KVv2("switchboard").Get(ctx, contract.VaultSubtree(workspace)+"/"+contract.EntryDatabase)
	if err != nil {
		return nil, fmt.Errorf("reading the database entry of %s: %w", workspace, err)
	}
	for _, k := range []string{contract.DatabasePassword, contract.DatabaseDSN} {
		if val, ok := kv.Data[k].(string); ok && val != "" {
			out["vault database."+k] = val
		}
	}
	sec, err := s.Clientset.CoreV1().Secrets(contract.Namespace(workspace)).Get(ctx, "initial-owner", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the initial-owner Secret of %s: %w", workspace, err)
	}
	for k, val := range sec.Data {
		if k == "password" && len(val) > 0 {
			out["initial-owner."+k] = string(val)
		}
	}
	if out["vault database.password"] == "" || out["initial-owner.password"] == "" {
		return nil, fmt.Errorf("workspace %s: expected a database password and an initial owner password", workspace)
	}
	return out, nil
}

// FindSecrets names the secrets that occur in text (by where they came from,
// never by value), or returns nil.
func FindSecrets(text string, secrets map[string]string) []string {
	var found []string
	for where, val := range secrets {
		if len(val) >= 8 && strings.Contains(text, val) {
			found = append(found, where)
		}
	}
	sort.Strings(found)
	return found
}
