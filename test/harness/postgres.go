package harness

import (
	"context"
	"net/url"

	"fmt"
	"github.com/jackc/pgx/v5"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Postgres is a private PostgreSQL cluster on a loopback port.
type Postgres struct {
	Port    int
	dir     string
	binDir  string
	cred    *syscall.Credential
	proc    *process
	ownsDir bool
}

// pgBinDir finds the PostgreSQL server binaries.
func pgBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
		return filepath.Dir(p), nil
	}
	for _, v := range []string{"17", "16", "15"} {
		d := "/usr/lib/postgresql/" + v + "/bin"
		if fileExists(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("harness: PostgreSQL server binaries not found: run `make test` (it runs hack/install-deps.sh), or apt-get install -y postgresql")
}

// StartPostgres initialises a cluster in a new temp dir and starts it. As
// root, the server runs as the postgres user, since initdb refuses root.
func StartPostgres() (*Postgres, error) {
	binDir, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "switchboard-pg-")
	if err != nil {
		return nil, err
	}
	pg := &Postgres{dir: dir, binDir: binDir, ownsDir: true}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("harness: running as root needs the postgres user (apt-get install -y postgresql creates it): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	// Connections over TCP must prove their password (SCRAM), as on a real
	// server: tests that a password was taken away or rotated mean something.
	// The socket in the temp dir trusts the local user.
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(AdminPassword+"\n"), 0o600); err != nil {
		return nil, err
	}
	if pg.cred != nil {
		if err := os.Chown(pwfile, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(binDir, "initdb"), "-D", data, "-U", "postgres", "--pwfile="+pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("harness: initdb failed: %v\n%s", err, out)
	}
	if pg.Port, err = FreePort(); err != nil {
		return nil, err
	}
	if err := pg.Start(); err != nil {
		pg.Close()
		return nil, err
	}
	return pg, nil
}

// Start starts the server on its port; it is used again after Stop.
func (pg *Postgres) Start() error {
	cmd := exec.Command(filepath.Join(pg.binDir, "postgres"), "-D", filepath.Join(pg.dir, "data"),
		"-p", strconv.Itoa(pg.Port), "-k", pg.dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=128MB")
	p, err := startProcess(cmd, pg.cred)
	if err != nil {
		return err
	}
	pg.proc = p
	if err := waitTCP(pg.Addr(), 30*time.Second, p.exited); err != nil {
		return fmt.Errorf("harness: postgres did not start: %v\n%s", err, p.log.String())
	}
	// The port opens before recovery ends ("the database system is starting
	// up"): wait until a session really starts.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, pg.AdminDSN())
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("harness: postgres accepts no sessions: %v\n%s", err, p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down (fast mode) and keeps its data.
func (pg *Postgres) Stop() {
	pg.proc.stop(syscall.SIGINT, 20*time.Second)
}

// Close stops the server and removes its data.
func (pg *Postgres) Close() {
	if pg == nil {
		return
	}
	pg.Stop()
	if pg.ownsDir {
		os.RemoveAll(pg.dir)
	}
}

// Addr is host:port.
func (pg *Postgres) Addr() string { return "127.0.0.1:" + strconv.Itoa(pg.Port) }

// AdminPassword is the test server's superuser password.
const AdminPassword = "switchboard-test-admin"

// AdminDSN is the superuser's DSN.
func (pg *Postgres) AdminDSN() string {
	return pg.DSN("postgres", AdminPassword, "postgres")
}

// DSN is a DSN for user and database; the superuser's password when user is
// postgres and password is empty.
func (pg *Postgres) DSN(user, password, db string) string {
	if user == "postgres" && password == "" {
		password = AdminPassword
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: pg.Addr(), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}
