package harness

import (
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// RootToken is the dev server's root token.
const RootToken = "root"

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
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("harness: vault did not become healthy:\n%s", p.log.String())
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
