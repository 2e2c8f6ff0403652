package harness

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// A private mail system for tests and `make dev`: Debian's dovecot-imapd
// serves IMAP, and postfix accepts SMTP and delivers into the same
// maildirs, so a reply sent through postfix is read back over IMAP from the
// recipient's mailbox. Both run as children of this process on loopback
// ports, with their configuration, queues, logs and mail in one temp dir.
//
//   - IMAP on IMAPPort (plaintext, STARTTLS offered) and IMAPSPort
//     (implicit TLS), with a certificate from a CA made at start (CACertPEM,
//     TLSConfig). Plaintext logins are allowed, as on a server reached
//     through a trusted network.
//   - SMTP on SMTPPort: postfix's smtpd with STARTTLS offered and AUTH
//     (PLAIN, LOGIN, and XOAUTH2 with OAuth2IntrospectionURL) checked by
//     dovecot's auth service. Mail to the server's domain is delivered to
//     the recipient's maildir by postfix's virtual(8); anything else
//     bounces: nothing leaves the machine. Unauthenticated senders may
//     deliver to the domain (as another mail server would), authenticated
//     users may send anywhere (and it bounces unless local).
//
// Mail belongs to a non-root user (mail, uid 8), as dovecot requires.
// Running it needs root: postfix's master runs as root, and both drop to
// their own users (dovenull, dovecot, postfix) for the network.

// MailOptions configures StartMailServer and StartDovecot.
type MailOptions struct {
	// Domain of the mailboxes; "example.test" when empty.
	Domain string
	// Users maps local parts to passwords: a mailbox is made for each.
	// Nil gives DefaultMailUsers.
	Users map[string]string
	// OAuth2IntrospectionURL, when set, makes dovecot accept SASL XOAUTH2
	// and OAUTHBEARER logins (IMAP, and SMTP through postfix) whose bearer
	// token the endpoint at this URL vouches for: dovecot POSTs
	// token=<bearer>&client_id=&client_secret= and accepts when the JSON
	// answer has "active": true and "email" equal to the login name.
	OAuth2IntrospectionURL string
}

// DefaultMailUsers are the mailboxes a server has when MailOptions.Users is
// nil: a shared support address and three customers.
var DefaultMailUsers = map[string]string{
	"support": "support-password",
	"alice":   "alice-password",
	"bob":     "bob-password",
	"carol":   "carol-password",
}

// MailServer is a private dovecot, and postfix unless it was started with
// StartDovecot.
type MailServer struct {
	Domain    string
	IMAPPort  int
	IMAPSPort int
	// SMTPPort is postfix's smtpd, 0 without postfix.
	SMTPPort int
	// CACertPEM is the CA that signed the servers' certificate (for
	// 127.0.0.1, localhost and mail.<Domain>).
	CACertPEM []byte

	opts    MailOptions
	dir     string
	mailDir string
	mailUID int
	mailGID int

	mu       sync.Mutex
	users    map[string]string
	dovecot  *process
	postfix  *process
	closed   bool
	postfixC string // postfix config dir
}

// StartMailServer starts dovecot and postfix with opts.
func StartMailServer(opts MailOptions) (*MailServer, error) {
	return startMail(opts, true)
}

// StartDovecot starts dovecot alone (IMAP, no SMTP).
func StartDovecot(opts MailOptions) (*MailServer, error) {
	return startMail(opts, false)
}

func startMail(opts MailOptions, withSMTP bool) (m *MailServer, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("harness: the mail server needs root (postfix's master and dovecot start as root and drop privileges); run the tests as root, as CI does")
	}
	for _, bin := range []string{"dovecot", "postfix"} {
		if _, err := exec.LookPath(bin); err != nil && (bin == "dovecot" || withSMTP) {
			return nil, fmt.Errorf("harness: %s is missing: run `make test` (it runs hack/install-deps.sh), or apt-get install -y dovecot-imapd postfix", bin)
		}
	}
	mailUser, err := user.Lookup("mail")
	if err != nil {
		return nil, fmt.Errorf("harness: the mail user (uid 8 on Debian) owns the test mailboxes: %w", err)
	}
	if opts.Domain == "" {
		opts.Domain = "example.test"
	}
	users := opts.Users
	if users == nil {
		users = DefaultMailUsers
	}
	m = &MailServer{Domain: opts.Domain, opts: opts, users: map[string]string{}}
	m.mailUID, _ = strconv.Atoi(mailUser.Uid)
	m.mailGID, _ = strconv.Atoi(mailUser.Gid)
	for u, p := range users {
		m.users[u] = p
	}
	if m.dir, err = os.MkdirTemp("", "switchboard-mail-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			m.Close()
			m = nil
		}
	}()
	// Dovecot's and postfix's unprivileged processes walk into it.
	if err := os.Chmod(m.dir, 0o755); err != nil {
		return nil, err
	}
	m.mailDir = filepath.Join(m.dir, "mail")
	for _, d := range []string{"dovecot", "run", "state", "tls", "mail"} {
		if err := os.MkdirAll(filepath.Join(m.dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.Chown(m.mailDir, m.mailUID, m.mailGID); err != nil {
		return nil, err
	}
	if err := m.writeTLS(); err != nil {
		return nil, err
	}
	ports := make([]int, 3)
	for i := range ports {
		for {
			if ports[i], err = FreePort(); err != nil {
				return nil, err
			}
			if !slices.Contains(ports[:i], ports[i]) {
				break
			}
		}
	}
	m.IMAPPort, m.IMAPSPort = ports[0], ports[1]
	if err := m.writeDovecotConfig(); err != nil {
		return nil, err
	}
	if err := m.StartIMAP(); err != nil {
		return nil, err
	}
	if withSMTP {
		m.SMTPPort = ports[2]
		if err := m.writePostfixConfig(); err != nil {
			return nil, err
		}
		if err := m.startPostfix(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Address is local's address on the server's domain.
func (m *MailServer) Address(local string) string { return local + "@" + m.Domain }

// Password is local's password.
func (m *MailServer) Password(local string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.users[local]
}

// IMAPAddr is the plaintext (STARTTLS) IMAP listener, IMAPSAddr the
// implicit TLS one, and SMTPAddr postfix's smtpd.
func (m *MailServer) IMAPAddr() string  { return "127.0.0.1:" + strconv.Itoa(m.IMAPPort) }
func (m *MailServer) IMAPSAddr() string { return "127.0.0.1:" + strconv.Itoa(m.IMAPSPort) }
func (m *MailServer) SMTPAddr() string  { return "127.0.0.1:" + strconv.Itoa(m.SMTPPort) }

// TLSConfig trusts the server's CA.
func (m *MailServer) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(m.CACertPEM)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// Logs returns dovecot's and postfix's logs, for a failing test to print.
func (m *MailServer) Logs() string {
	var b strings.Builder
	for _, f := range []string{"dovecot.out", "dovecot.log", "postfix/master.out", "postfix/postfix.log"} {
		data, _ := os.ReadFile(filepath.Join(m.dir, f))
		if len(data) > 64<<10 {
			data = data[len(data)-64<<10:]
		}
		fmt.Fprintf(&b, "==> %s <==\n%s\n", f, data)
	}
	return b.String()
}

// AddUser makes a mailbox for local (or changes its password).
func (m *MailServer) AddUser(local, password string) error {
	if local == "" || strings.ContainsAny(local, ":@/ \n") || strings.ContainsAny(password, ":\n") {
		return fmt.Errorf("harness: bad mail user %q", local)
	}
	m.mu.Lock()
	m.users[local] = password
	m.mu.Unlock()
	// Dovecot re-reads its passwd-file when it changes, but looks at it at
	// most once a second: a login in the second of the write (after another
	// lookup in that second) reads the old file and is refused. So AddUser
	// returns only in a later second.
	if err := m.writeUsers(); err != nil {
		return err
	}
	defer time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
	if m.postfixC == "" {
		return nil
	}
	// Postfix reads its mailbox table once per process, so it reloads; an
	// smtpd from before the reload may still answer for a moment, so
	// AddUser waits until the SMTP server takes the new address.
	if err := m.writeMailboxMap(); err != nil {
		return err
	}
	if out, err := exec.Command("postfix", "-c", m.postfixC, "reload").CombinedOutput(); err != nil {
		return fmt.Errorf("harness: postfix reload: %v\n%s", err, out)
	}
	return m.waitRecipient(m.Address(local), 15*time.Second)
}

// waitRecipient asks the SMTP server, without sending anything (RCPT TO,
// then RSET), until it takes addr as a recipient.
func (m *MailServer) waitRecipient(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		err := m.probeRecipient(addr)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("harness: postfix does not take %s after a reload: %w", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (m *MailServer) probeRecipient(addr string) error {
	c, err := smtp.Dial(m.SMTPAddr())
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("sender.invalid"); err != nil {
		return err
	}
	if err := c.Mail("probe@sender.invalid", nil); err != nil {
		return err
	}
	if err := c.Rcpt(addr, nil); err != nil {
		return err
	}
	_ = c.Reset()
	return c.Quit()
}

// Close stops both servers and removes everything. It may be called twice.
func (m *MailServer) Close() {
	if m == nil {
		return
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.mu.Unlock()
	m.stopPostfix()
	m.StopIMAP()
	if m.dir != "" {
		os.RemoveAll(m.dir)
	}
}

// StopIMAP stops dovecot, dropping every IMAP connection (and SMTP AUTH,
// which asks dovecot). StartIMAP starts it again on the same ports: tests
// use the pair as a server restart.
func (m *MailServer) StopIMAP() {
	m.mu.Lock()
	p := m.dovecot
	m.dovecot = nil
	m.mu.Unlock()
	if p == nil {
		return
	}
	p.stop(syscall.SIGTERM, 20*time.Second)
	// The master is gone; what it leaves (auth, log, anvil, stats) goes too,
	// or a restart would find the old auth process serving postfix.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// StartIMAP starts dovecot; it does nothing if it runs.
func (m *MailServer) StartIMAP() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dovecot != nil {
		select {
		case <-m.dovecot.exited:
		default:
			return nil
		}
	}
	cmd := exec.Command("dovecot", "-F", "-c", filepath.Join(m.dir, "dovecot", "dovecot.conf"))
	// A file, not a pipe: dovecot's auth and log processes outlive the
	// master for a while (postfix holds a connection to auth), and a pipe
	// they still hold would keep Wait from returning.
	out, err := os.OpenFile(filepath.Join(m.dir, "dovecot.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	p, err := startProcess(cmd, nil)
	if err != nil {
		return err
	}
	m.dovecot = p
	for _, port := range []int{m.IMAPPort, m.IMAPSPort} {
		if err := waitTCP("127.0.0.1:"+strconv.Itoa(port), 30*time.Second, p.exited); err != nil {
			return fmt.Errorf("harness: dovecot did not start: %v\n%s", err, m.Logs())
		}
	}
	return nil
}

func (m *MailServer) writeTLS() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Switchboard test mail CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mail." + m.Domain},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 24 * time.Hour),
		DNSNames: []string{"localhost", "mail." + m.Domain}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	m.CACertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	files := map[string][]byte{
		"ca.pem":   m.CACertPEM,
		"cert.pem": append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), m.CACertPEM...),
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(m.dir, "tls", name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (m *MailServer) writeUsers() error {
	m.mu.Lock()
	var b strings.Builder
	for u, p := range m.users {
		// PLAIN scheme: the test passwords are no secret.
		fmt.Fprintf(&b, "%s:{PLAIN}%s::::::\n", m.Address(u), p)
	}
	m.mu.Unlock()
	return writeFileAtomic(filepath.Join(m.dir, "dovecot", "users"), []byte(b.String()), 0o644)
}

func (m *MailServer) writeDovecotConfig() error {
	if err := m.writeUsers(); err != nil {
		return err
	}
	d := func(p ...string) string { return filepath.Join(append([]string{m.dir}, p...)...) }
	mechanisms := "plain login"
	oauth := ""
	if m.opts.OAuth2IntrospectionURL != "" {
		mechanisms += " xoauth2 oauthbearer"
		conf := fmt.Sprintf("introspection_mode = post\nintrospection_url = %s\nusername_attribute = email\nactive_attribute = active\nactive_value = true\n",
			m.opts.OAuth2IntrospectionURL)
		if err := os.WriteFile(d("dovecot", "oauth2.conf.ext"), []byte(conf), 0o644); err != nil {
			return err
		}
		oauth = fmt.Sprintf("passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = %s\n}\n", d("dovecot", "oauth2.conf.ext"))
	}
	conf := fmt.Sprintf(`# Written by test/harness/mail.go.
base_dir = %[1]s
state_dir = %[2]s
log_path = %[3]s
info_log_path = %[3]s
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <%[4]s
ssl_key = <%[5]s
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = %[6]s
auth_failure_delay = 1 secs
# No growing penalty for repeated failures from the tests' one address.
login_trusted_networks = 127.0.0.0/8
# How often a session in IDLE looks at its mailbox besides the kernel's
# notifications (30 s by default): tests wait less.
mailbox_idle_check_interval = 1 secs
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
mail_location = maildir:%[7]s/%%d/%%n/Maildir
# A sent-mail folder marked \Sent (RFC 6154), as most providers have: the
# email channel copies its replies there.
namespace inbox {
  inbox = yes
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
}
mail_uid = %[8]d
mail_gid = %[9]d
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%%u %[10]s
}
%[11]suserdb {
  driver = static
  args = uid=%[8]d gid=%[9]d home=%[7]s/%%d/%%n allow_all_users=yes
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[12]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[13]d
    ssl = yes
  }
}
service auth {
  unix_listener auth-client-postfix {
    mode = 0666
  }
}
`, d("run"), d("state"), d("dovecot.log"), d("tls", "cert.pem"), d("tls", "key.pem"), mechanisms,
		m.mailDir, m.mailUID, m.mailGID, d("dovecot", "users"), oauth, m.IMAPPort, m.IMAPSPort)
	return os.WriteFile(d("dovecot", "dovecot.conf"), []byte(conf), 0o644)
}

func (m *MailServer) writeMailboxMap() error {
	m.mu.Lock()
	var b strings.Builder
	for u := range m.users {
		fmt.Fprintf(&b, "%s %s/%s/Maildir/\n", m.Address(u), m.Domain, u)
	}
	m.mu.Unlock()
	return writeFileAtomic(filepath.Join(m.postfixC, "vmailbox"), []byte(b.String()), 0o644)
}

func (m *MailServer) writePostfixConfig() error {
	base := filepath.Join(m.dir, "postfix")
	m.postfixC = filepath.Join(base, "etc")
	for _, d := range []string{m.postfixC, filepath.Join(base, "spool"), filepath.Join(base, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		return fmt.Errorf("harness: the postfix user comes with the postfix package: %w", err)
	}
	pfUID, _ := strconv.Atoi(pf.Uid)
	if err := os.Chown(filepath.Join(base, "data"), pfUID, -1); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(base, "data"), 0o700); err != nil {
		return err
	}
	if err := m.writeMailboxMap(); err != nil {
		return err
	}
	tlsDir := filepath.Join(m.dir, "tls")
	main := fmt.Sprintf(`# Written by test/harness/mail.go.
compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = %[1]s/postfix.log
maillog_file_prefixes = %[1]s
myhostname = mail.%[2]s
mydomain = %[2]s
myorigin = %[2]s
mydestination =
mynetworks = 127.0.0.1/32
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtpd_peername_lookup = no
smtputf8_enable = no
biff = no
alias_maps =
alias_database =
local_recipient_maps =
# Nothing leaves the machine.
default_transport = error:this test server delivers to its own domain only
relay_transport = error:this test server delivers to its own domain only
virtual_mailbox_domains = %[2]s
virtual_mailbox_base = %[3]s
virtual_mailbox_maps = texthash:%[4]s/vmailbox
virtual_uid_maps = static:%[5]d
virtual_gid_maps = static:%[6]d
virtual_minimum_uid = 1
smtpd_tls_security_level = may
smtpd_tls_cert_file = %[7]s/cert.pem
smtpd_tls_key_file = %[7]s/key.pem
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = %[8]s
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
`, base, m.Domain, m.mailDir, m.postfixC, m.mailUID, m.mailGID, tlsDir, filepath.Join(m.dir, "run", "auth-client-postfix"))
	// chroot off everywhere: the services read the temp dir.
	master := fmt.Sprintf(`# Written by test/harness/mail.go.
127.0.0.1:%d inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`, m.SMTPPort)
	if err := os.WriteFile(filepath.Join(m.postfixC, "main.cf"), []byte(main), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(m.postfixC, "master.cf"), []byte(master), 0o644)
}

func (m *MailServer) startPostfix() error {
	// The queue's folders, with the owners and modes postfix-files gives
	// them (what `postfix check` would make, in a fraction of its time).
	pf, err := user.Lookup("postfix")
	if err != nil {
		return fmt.Errorf("harness: the postfix user comes with the postfix package: %w", err)
	}
	grp, err := user.LookupGroup("postdrop")
	if err != nil {
		return fmt.Errorf("harness: the postdrop group comes with the postfix package: %w", err)
	}
	pfUID, _ := strconv.Atoi(pf.Uid)
	postdrop, _ := strconv.Atoi(grp.Gid)
	spool := filepath.Join(m.dir, "postfix", "spool")
	for _, q := range []struct {
		name     string
		uid, gid int
		mode     os.FileMode
	}{
		{"active", pfUID, 0, 0o700}, {"bounce", pfUID, 0, 0o700}, {"corrupt", pfUID, 0, 0o700}, {"defer", pfUID, 0, 0o700},
		{"deferred", pfUID, 0, 0o700}, {"flush", pfUID, 0, 0o700}, {"hold", pfUID, 0, 0o700}, {"incoming", pfUID, 0, 0o700},
		{"private", pfUID, 0, 0o700}, {"saved", pfUID, 0, 0o700}, {"trace", pfUID, 0, 0o700},
		{"maildrop", pfUID, postdrop, 0o730}, {"public", pfUID, postdrop, 0o710}, {"pid", 0, 0, 0o755},
	} {
		p := filepath.Join(spool, q.name)
		if err := os.MkdirAll(p, q.mode); err != nil {
			return err
		}
		if err := os.Chown(p, q.uid, q.gid); err != nil {
			return err
		}
		if err := os.Chmod(p, q.mode); err != nil {
			return err
		}
	}
	out, err := os.OpenFile(filepath.Join(m.dir, "postfix", "master.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	// The master in the foreground, as our child: it dies with us
	// (Pdeathsig), and its children notice.
	cmd := exec.Command("/usr/lib/postfix/sbin/master", "-c", m.postfixC, "-d")
	cmd.Stdout, cmd.Stderr = out, out
	p, err := startProcess(cmd, nil)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.postfix = p
	m.mu.Unlock()
	if err := waitTCP(m.SMTPAddr(), 30*time.Second, p.exited); err != nil {
		return fmt.Errorf("harness: postfix did not start: %v\n%s", err, m.Logs())
	}
	return nil
}

func (m *MailServer) stopPostfix() {
	m.mu.Lock()
	p := m.postfix
	m.postfix = nil
	m.mu.Unlock()
	if p == nil {
		return
	}
	// SIGTERM makes the master end its process group; the SIGKILL is for
	// anything that lingers.
	p.stop(syscall.SIGTERM, 20*time.Second)
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// DialIMAP logs local in over IMAPS, for a test to look at a mailbox.
func (m *MailServer) DialIMAP(local string) (*imapclient.Client, error) {
	c, err := imapclient.DialTLS(m.IMAPSAddr(), &imapclient.Options{TLSConfig: m.TLSConfig()})
	if err != nil {
		return nil, err
	}
	if err := c.Login(m.Address(local), m.Password(local)).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("harness: IMAP login of %s: %w", local, err)
	}
	return c, nil
}

// Append adds raw messages to local's mailbox over IMAP, creating the
// mailbox if needed, as a mail client (or a delivery) would.
func (m *MailServer) Append(local, mailbox string, raws ...[]byte) error {
	c, err := m.DialIMAP(local)
	if err != nil {
		return err
	}
	defer func() { c.Close() }() // c may be replaced below
	if mailbox != "INBOX" {
		if err := c.Create(mailbox, nil).Wait(); err != nil && !isIMAPCode(err, imap.ResponseCodeAlreadyExists) {
			return err
		}
	}
	for _, raw := range raws {
		// A session that still has a just-recreated mailbox open may have
		// it "deleted under us" for a moment: try again.
		for attempt := 0; ; attempt++ {
			cmd := c.Append(mailbox, int64(len(raw)), nil)
			if _, err := cmd.Write(raw); err != nil {
				return err
			}
			if err := cmd.Close(); err != nil {
				return err
			}
			_, err := cmd.Wait()
			if err == nil {
				break
			}
			var ie *imap.Error
			if !errors.As(err, &ie) || attempt >= 50 {
				return err
			}
			time.Sleep(100 * time.Millisecond)
			// On a loaded machine the session can keep its stale view of
			// the mailbox for seconds: every so often, take a new one.
			if attempt%5 == 4 {
				c.Close()
				if c, err = m.DialIMAP(local); err != nil {
					return err
				}
				if mailbox != "INBOX" {
					if err := c.Create(mailbox, nil).Wait(); err != nil && !isIMAPCode(err, imap.ResponseCodeAlreadyExists) {
						return err
					}
				}
			}
		}
	}
	return c.Logout().Wait()
}

// Messages returns every message of local's mailbox, in UID order.
func (m *MailServer) Messages(local, mailbox string) ([][]byte, error) {
	c, err := m.DialIMAP(local)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, err
	}
	if sel.NumMessages == 0 {
		return nil, c.Logout().Wait()
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		return nil, err
	}
	slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
	out := make([][]byte, 0, len(msgs))
	for _, msg := range msgs {
		if len(msg.BodySection) > 0 {
			out = append(out, msg.BodySection[0].Bytes)
		}
	}
	return out, c.Logout().Wait()
}

// WaitMessages waits until local's mailbox holds at least n messages and
// returns them.
func (m *MailServer) WaitMessages(local, mailbox string, n int, timeout time.Duration) ([][]byte, error) {
	deadline := time.Now().Add(timeout)
	for {
		msgs, err := m.Messages(local, mailbox)
		if err == nil && len(msgs) >= n {
			return msgs, nil
		}
		if time.Now().After(deadline) {
			return msgs, fmt.Errorf("harness: %s/%s has %d messages after %s, want %d (last error: %v)\n%s",
				local, mailbox, len(msgs), timeout, n, err, m.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Send delivers raw to recipients through postfix without authenticating,
// as another mail server on the internet would: only the server's own
// domain accepts it.
func (m *MailServer) Send(from string, to []string, raw []byte) error {
	if m.SMTPPort == 0 {
		return errors.New("harness: this mail server has no SMTP (StartDovecot)")
	}
	c, err := smtp.Dial(m.SMTPAddr())
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("sender.invalid"); err != nil {
		return err
	}
	return c.SendMail(from, to, bytes.NewReader(raw))
}

// maildir is local's maildir folder for mailbox (Maildir++ layout).
func (m *MailServer) maildir(local, mailbox string) string {
	p := filepath.Join(m.mailDir, m.Domain, local, "Maildir")
	if mailbox != "INBOX" && mailbox != "" {
		p = filepath.Join(p, "."+mailbox)
	}
	return p
}

var maildirSeq atomic.Int64

// FillMaildir writes n messages, gen(0) to gen(n-1), straight into local's
// mailbox as maildir files: much faster than delivering them, for large
// mailboxes, and possible while dovecot is stopped. Dovecot indexes them
// when the mailbox is next opened (or, for a session in IDLE, within a few
// seconds), in this order.
func (m *MailServer) FillMaildir(local, mailbox string, n int, gen func(i int) []byte) error {
	dir := m.maildir(local, mailbox)
	for _, sub := range []string{"", "cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
		if err := os.Chown(filepath.Join(dir, sub), m.mailUID, m.mailGID); err != nil {
			return err
		}
	}
	for _, p := range []string{filepath.Join(m.mailDir, m.Domain), filepath.Join(m.mailDir, m.Domain, local), filepath.Join(m.mailDir, m.Domain, local, "Maildir")} {
		if err := os.Chown(p, m.mailUID, m.mailGID); err != nil {
			return err
		}
	}
	base := time.Now().Unix()
	for i := range n {
		raw := gen(i)
		// <time>.<unique>.<host>,S=<size>:2,<flags>: the name sorts in
		// order, and S= spares dovecot a stat.
		name := fmt.Sprintf("%d.M%09dP%d.switchboard,S=%d:2,", base, maildirSeq.Add(1), os.Getpid(), len(raw))
		p := filepath.Join(dir, "cur", name)
		if err := os.WriteFile(p, raw, 0o600); err != nil {
			return err
		}
		if err := os.Chown(p, m.mailUID, m.mailGID); err != nil {
			return err
		}
	}
	return nil
}

// RecreateMailbox deletes local's mailbox and creates it again with the
// same messages, which gives it a new UIDVALIDITY: what a server migration
// or restore from backup looks like to a client. INBOX cannot be deleted
// over IMAP, so for it doveadm sets a new UIDVALIDITY (dovecot then
// renumbers nothing, but every UID a client stored is void all the same).
// It returns the new UIDVALIDITY.
func (m *MailServer) RecreateMailbox(local, mailbox string) (uint32, error) {
	if mailbox == "INBOX" {
		c, err := m.DialIMAP(local)
		if err != nil {
			return 0, err
		}
		old, err := c.Status("INBOX", &imap.StatusOptions{UIDValidity: true}).Wait()
		c.Close()
		if err != nil {
			return 0, err
		}
		uv := max(uint32(time.Now().Unix()), old.UIDValidity+1)
		out, err := exec.Command("doveadm", "-c", filepath.Join(m.dir, "dovecot", "dovecot.conf"), "mailbox", "update",
			"-u", m.Address(local), "--uid-validity", strconv.FormatUint(uint64(uv), 10), "INBOX").CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("harness: doveadm mailbox update: %v\n%s", err, out)
		}
		if c, err = m.DialIMAP(local); err != nil {
			return 0, err
		}
		defer c.Close()
		st, err := c.Status("INBOX", &imap.StatusOptions{UIDValidity: true}).Wait()
		if err != nil {
			return 0, err
		}
		if st.UIDValidity != uv {
			return 0, fmt.Errorf("harness: INBOX has UIDVALIDITY %d after doveadm set %d", st.UIDValidity, uv)
		}
		return uv, c.Logout().Wait()
	}
	msgs, err := m.Messages(local, mailbox)
	if err != nil {
		return 0, err
	}
	c, err := m.DialIMAP(local)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	old, err := c.Status(mailbox, &imap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil {
		return 0, err
	}
	if err := c.Delete(mailbox).Wait(); err != nil {
		return 0, err
	}
	if err := c.Create(mailbox, nil).Wait(); err != nil {
		return 0, err
	}
	if err := c.Logout().Wait(); err != nil {
		return 0, err
	}
	if err := m.Append(local, mailbox, msgs...); err != nil {
		return 0, err
	}
	c2, err := m.DialIMAP(local)
	if err != nil {
		return 0, err
	}
	defer c2.Close()
	st, err := c2.Status(mailbox, &imap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil {
		return 0, err
	}
	if st.UIDValidity == old.UIDValidity {
		return 0, fmt.Errorf("harness: %s kept UIDVALIDITY %d after it was recreated", mailbox, st.UIDValidity)
	}
	return st.UIDValidity, c2.Logout().Wait()
}

func isIMAPCode(err error, code imap.ResponseCode) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Code == code
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
