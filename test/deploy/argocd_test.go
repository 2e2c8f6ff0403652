package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/switchboard-dev/switchboard/test/harness"
)

// argoHealth runs config/argocd/health.lua on obj the way Argo CD does: obj
// as a global table, the script's returned table as the verdict.
func argoHealth(t *testing.T, obj any) (status, message string) {
	t.Helper()
	root, err := harness.Root()
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(root, "config", "argocd", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if u, ok := obj.(map[string]any); ok {
		m = u
	} else if m, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err != nil {
		t.Fatal(err)
	}
	// Through JSON, as Argo CD sees the live object.
	b, _ := json.Marshal(m)
	var plain any
	_ = json.Unmarshal(b, &plain)
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, plain))
	if err := L.DoString(string(script)); err != nil {
		t.Fatalf("health.lua: %v", err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health.lua returned %v, want a table", L.Get(-1))
	}
	return hs.RawGetString("status").String(), hs.RawGetString("message").String()
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case bool:
		return lua.LBool(v)
	}
	return lua.LNil
}

func TestArgoCDHealth(t *testing.T) {
	ready := func(status, reason, message string) map[string]any {
		return map[string]any{"type": "Ready", "status": status, "reason": reason, "message": message}
	}
	obj := func(generation int, status map[string]any, meta ...string) map[string]any {
		md := map[string]any{"name": "acme", "generation": generation}
		if len(meta) > 0 {
			md["deletionTimestamp"] = meta[0]
		}
		o := map[string]any{"apiVersion": "tenancy.switchboard.dev/v1alpha1", "kind": "Workspace", "metadata": md}
		if status != nil {
			o["status"] = status
		}
		return o
	}
	for _, tt := range []struct {
		name, want, inMessage string
		obj                   map[string]any
	}{
		{"new", "Progressing", "waiting", obj(1, nil)},
		{"ready", "Healthy", "AllReady", obj(2, map[string]any{"phase": "Ready", "observedGeneration": 2,
			"conditions": []any{ready("True", "AllReady", "serving")}})},
		{"a newer spec not yet acted on", "Progressing", "latest spec", obj(3, map[string]any{"phase": "Ready", "observedGeneration": 2,
			"conditions": []any{ready("True", "AllReady", "serving")}})},
		{"rolling out", "Progressing", "RolloutInProgress", obj(1, map[string]any{"phase": "Provisioning", "observedGeneration": 1,
			"conditions": []any{ready("False", "RolloutInProgress", "1 of 2 replicas")}})},
		{"failed spec, never observed", "Degraded", "UnknownDatabaseServer", obj(1, map[string]any{"phase": "Failed",
			"conditions": []any{ready("False", "UnknownDatabaseServer", `spec.databaseServer "mars" is not one of ...`)}})},
		{"suspended", "Suspended", "Suspended", obj(4, map[string]any{"phase": "Suspended", "observedGeneration": 4,
			"conditions": []any{ready("True", "Suspended", "scaled to 0")}})},
		{"disconnected integration", "Suspended", "Disconnected", obj(2, map[string]any{"phase": "Disconnected", "observedGeneration": 2,
			"conditions": []any{ready("False", "Disconnected", "credentials destroyed")}})},
		{"deleting", "Progressing", "deleted", obj(1, map[string]any{"phase": "Deleting", "observedGeneration": 1}, "2026-11-26T00:00:00Z")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, message := argoHealth(t, tt.obj)
			if status != tt.want || !strings.Contains(message, tt.inMessage) {
				t.Errorf("health %s %q, want %s with %q", status, message, tt.want, tt.inMessage)
			}
		})
	}
}
