// Package harness starts the real dependencies of Switchboard's tests and of
// `make dev`: PostgreSQL 15, Vault v1.14.2, and the Kubernetes control plane
// built into bin/. Nothing is mocked; a missing dependency is an error that
// says how to fix it, never a skip.
package harness

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Root is the repository root: the nearest parent holding go.mod and PROJECT.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "PROJECT")) && fileExists(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("harness: cannot find the repository root (a folder with go.mod and PROJECT)")
		}
		dir = parent
	}
}

// Bin returns the path of a tool built into bin/ by hack/build-tools.sh.
func Bin(name string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "bin", name)
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("harness: %s is missing: run `make test` (or hack/build-tools.sh %s) to build it from Go modules", p, name)
	}
	return p, nil
}

// BinDir is bin/, for KUBEBUILDER_ASSETS.
func BinDir() (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	for _, n := range []string{"kube-apiserver", "etcd"} {
		if _, err := Bin(n); err != nil {
			return "", err
		}
	}
	return filepath.Join(root, "bin"), nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. It is
// chosen below the kernel's ephemeral range, so that no outgoing connection
// takes it as its local port before the server binds it, or while a test has
// a server stopped and restarts it on the same port.
func FreePort() (int, error) {
	lo, hi := 20000, ephemeralLow()
	if hi-lo < 1000 {
		lo = 1024
	}
	for range 100 {
		port := lo + rand.IntN(hi-lo)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 1024 {
		return 32768
	}
	return n
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// waitTCP waits until something accepts connections on addr.
func waitTCP(addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("the process exited before listening on %s", addr)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listened on %s within %s", addr, timeout)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
