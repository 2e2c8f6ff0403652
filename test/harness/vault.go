package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// RootToken is the dev server's root token.
const RootToken = "root"

// OperatorToken is a token with exactly the policy docs/security.md gives
// the operator (config/vault/operator-policy.hcl). Every start of the dev
// server creates it again under the same ID, so the operator keeps its
// identity across a restart that loses everything else.
const OperatorToken = "switchboard-operator-test"

// Vault is a Vault v1.14.2 dev server (in memory) on a loopback port.
type Vault struct {
	Port int
	bin  string
	proc *process
}

// StartVault starts `vault server -dev` on a free port.
func StartVault() (*Vault, error) {
	bin, err := Bin("vault")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	v := &Vault{Port: port, bin: bin}
	return v, v.Start()
}

// Start starts the server on its port. A dev server keeps nothing, so a
// restarted Vault is empty: tests use that as a Vault that lost its data.
func (v *Vault) Start() error {
	cmd := exec.Command(v.bin, "server", "-dev", "-dev-root-token-id="+RootToken,
		"-dev-listen-address=127.0.0.1:"+strconv.Itoa(v.Port), "-dev-no-store-token")
	cmd.Env = []string{"HOME=/tmp", "VAULT_LOG_LEVEL=" + envOr("SWITCHBOARD_TEST_VAULT_LOG_LEVEL", "warn")}
	p, err := startProcess(cmd, nil)
	if err != nil {
		return err
	}
	v.proc = p
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("harness: vault exited at start:\n%s", p.log.String())
		default:
		}
		resp, err := http.Get(v.Addr() + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return v.createOperatorToken()
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("harness: vault did not become healthy:\n%s", p.log.String())
}

// createOperatorToken writes the operator's policy and creates OperatorToken
// with it (and the default policy, which lets a token look itself up and
// renew itself), as a periodic token.
func (v *Vault) createOperatorToken() error {
	root, err := Root()
	if err != nil {
		return err
	}
	policy, err := os.ReadFile(filepath.Join(root, "config", "vault", "operator-policy.hcl"))
	if err != nil {
		return err
	}
	for _, req := range []struct {
		path string
		body map[string]any
	}{
		{"/v1/sys/policies/acl/switchboard-operator", map[string]any{"policy": string(policy)}},
		{"/v1/auth/token/create-orphan", map[string]any{"id": OperatorToken, "policies": []string{"switchboard-operator"}, "period": "24h"}},
	} {
		body, _ := json.Marshal(req.body)
		r, _ := http.NewRequest(http.MethodPost, v.Addr()+req.path, bytes.NewReader(body))
		r.Header.Set("X-Vault-Token", RootToken)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			return fmt.Errorf("harness: vault %s: %w", req.path, err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("harness: vault %s: %s: %s", req.path, resp.Status, msg)
		}
	}
	return nil
}

// Stop stops the server.
func (v *Vault) Stop() { v.proc.stop(syscall.SIGTERM, 10*time.Second) }

// Close stops the server.
func (v *Vault) Close() {
	if v != nil {
		v.Stop()
	}
}

// Addr is the server's URL.
func (v *Vault) Addr() string { return "http://127.0.0.1:" + strconv.Itoa(v.Port) }

// Log is what the server printed lately.
func (v *Vault) Log() string { return v.proc.log.String() }
