package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard-dev/switchboard/runtime/internal/config"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
	"github.com/switchboard-dev/switchboard/test/harness"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// tenant is a workspace as the operator leaves it: a database, and Vault
// entries database and bootstrap.
// stop shuts the runtime down early; the test's cleanup calls it too.
// setup runs on the started App before it serves (to give it a test clock,
// say), when nothing reads its fields yet.
func startTenant(t *testing.T, v *harness.Vault, name string, setup ...func(*App)) (a *App, password string, stop func() error) {
	t.Helper()
	_, dsn := storetest.NewDBWithDSN(t)
	vc, _ := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
	vc.SetToken(harness.RootToken)
	_ = vc.Sys().Mount("switchboard", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}})
	password = "initial-" + name + "-pw"
	hash, _ := bcrypt.GenerateFromPassword([]byte(password), 10)
	kv := vc.KVv2("switchboard")
	if _, err := kv.Put(context.Background(), "workspaces/"+name+"/database", map[string]any{"dsn": dsn}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), "workspaces/"+name+"/bootstrap", map[string]any{
		"email": "owner@" + name + ".example", "name": "Owner " + name, "passwordHash": string(hash), "mustChangePassword": "true"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(func(k string) string {
		return map[string]string{
			"SWITCHBOARD_WORKSPACE": name, "SWITCHBOARD_PUBLIC_URL": "http://" + name + ".test", "SWITCHBOARD_LISTEN_ADDR": "127.0.0.1:0",
			"VAULT_ADDR": v.Addr(), "VAULT_TOKEN": harness.RootToken, "SWITCHBOARD_VAULT_PATH": "workspaces/" + name,
			"SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true", // the browser test's webhook is on loopback
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err = Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(a)
	}
	stop = serve(a)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return a, password, stop
}

// serve runs the app; stop shuts it down (once) and returns what Serve returned.
func serve(a *App) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
}

func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func TestTwoTenantsBootstrapAndStayApart(t *testing.T) {
	v, err := harness.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	a, pwA, _ := startTenant(t, v, "alpha")
	b, _, _ := startTenant(t, v, "beta")
	urlA, urlB := "http://"+a.Addr(), "http://"+b.Addr()

	for _, u := range []string{urlA, urlB} {
		resp, err := http.Get(u + "/readyz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("readyz %s: %v %v", u, resp, err)
		}
	}

	resp, err := http.Get(urlA + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "switchboard_runtime_http_requests_total") || !strings.Contains(string(metrics), "process_resident_memory_bytes") {
		t.Fatalf("metrics:\n%.500s", metrics)
	}

	By := func(s string) { t.Log(s) }
	By("the bootstrap owner signs in and must change the password")
	c := client(t)
	resp, err = c.PostForm(urlA+"/login", url.Values{"email": {"owner@alpha.example"}, "password": {pwA}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path != "/password" || !strings.Contains(string(body), "first sign-in") {
		t.Fatalf("after first login: %s", resp.Request.URL)
	}
	resp, _ = c.Get(urlA + "/inbox")
	if resp.Request.URL.Path != "/password" {
		t.Fatalf("the inbox must wait for the new password: %s", resp.Request.URL)
	}
	resp.Body.Close()

	By("a session of one tenant means nothing to the other")
	ua, _ := url.Parse(urlA)
	ub, _ := url.Parse(urlB)
	for _, ck := range c.Jar.Cookies(ua) {
		c.Jar.SetCookies(ub, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/"}})
	}
	resp, _ = c.Get(urlB + "/inbox")
	resp.Body.Close()
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("tenant B accepted tenant A's session: %s", resp.Request.URL)
	}

	By("data written to one tenant is not in the other")
	if _, err := a.Inbox.Ingest(context.Background(), storeInbound("alpha-only")); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.Store.Pool.QueryRow(context.Background(), `SELECT count(*) FROM messages`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("tenant B sees %d messages (%v)", n, err)
	}
	if err := a.Store.Pool.QueryRow(context.Background(), `SELECT count(*) FROM messages`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("tenant A has %d messages (%v)", n, err)
	}
}

func TestStartFailsClearly(t *testing.T) {
	v, err := harness.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	cfg, _ := config.Load(func(k string) string {
		return map[string]string{"SWITCHBOARD_WORKSPACE": "ghost", "SWITCHBOARD_PUBLIC_URL": "http://ghost.test", "SWITCHBOARD_LISTEN_ADDR": "127.0.0.1:0",
			"VAULT_ADDR": v.Addr(), "VAULT_TOKEN": harness.RootToken, "SWITCHBOARD_VAULT_PATH": "workspaces/ghost"}[k]
	})
	_, err = Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "database credentials") {
		t.Fatalf("err = %v", err)
	}
}

// TestShutdownDrainsInFlightRequests starts a sign-in whose body arrives
// slowly, shuts the runtime down in the middle of it, and checks that the
// request still gets its whole answer while new connections are refused.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	v, err := harness.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	a, _, stop := startTenant(t, v, "drain")
	base := "http://" + a.Addr()

	body := "email=owner%40drain.example&password=not-the-password"
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, base+"/login", pr)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.ContentLength = int64(len(body))
	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{resp.StatusCode, string(b), err}
	}()
	if _, err := io.WriteString(pw, body[:20]); err != nil {
		t.Fatal(err)
	}
	// The request is in flight once its handler runs: only requests the
	// server has begun are drained; one that has not arrived is refused.
	inFlight := `switchboard_runtime_http_requests_in_flight{route="POST /login"} 1`
	waitUntil(t, "the sign-in in flight", func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), inFlight)
	})

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// Shutdown closes the listener first: wait until new connections fail.
	waitUntil(t, "the listener closed", func() bool {
		c, err := net.DialTimeout("tcp", a.Addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-stopped:
		t.Fatalf("shutdown finished before the in-flight request did: %v", err)
	default:
	}

	if _, err := io.WriteString(pw, body[20:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-res
	if r.err != nil || r.status != http.StatusUnauthorized || !strings.Contains(r.body, "do not match") {
		t.Fatalf("the in-flight sign-in: status %d, err %v, body %.200s", r.status, r.err, r.body)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func waitUntil(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !f(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
