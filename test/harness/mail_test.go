package harness

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TestMailServer checks what the email tests rely on: an authenticated
// submission over STARTTLS lands in the recipient's mailbox, a wrong
// password is refused by IMAP and SMTP alike, a restart keeps the mail,
// maildir files written directly are served, and a recreated mailbox has a
// new UIDVALIDITY.
func TestMailServer(t *testing.T) {
	m, err := StartMailServer(MailOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	defer func() {
		if t.Failed() {
			t.Log(m.Logs())
		}
	}()

	raw := []byte("From: support@example.test\r\nTo: alice@example.test\r\nSubject: hello\r\nMessage-ID: <h1@example.test>\r\n\r\nHi Alice\r\n")
	c, err := smtp.DialStartTLS(m.SMTPAddr(), &tls.Config{RootCAs: m.TLSConfig().RootCAs, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", m.Address("support"), m.Password("support"))); err != nil {
		t.Fatalf("AUTH PLAIN: %v", err)
	}
	if err := c.SendMail(m.Address("support"), []string{m.Address("alice")}, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	msgs, err := m.WaitMessages("alice", "INBOX", 1, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(msgs[0], []byte("Message-ID: <h1@example.test>")) || !bytes.Contains(msgs[0], []byte("Hi Alice")) {
		t.Fatalf("delivered message:\n%s", msgs[0])
	}

	// Wrong passwords.
	c, err = smtp.DialStartTLS(m.SMTPAddr(), &tls.Config{RootCAs: m.TLSConfig().RootCAs, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	var se *smtp.SMTPError
	if err := c.Auth(sasl.NewPlainClient("", m.Address("support"), "wrong")); !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("SMTP AUTH with a wrong password = %v, want 535", err)
	}
	c.Close()
	ic, err := imapclient.DialTLS(m.IMAPSAddr(), &imapclient.Options{TLSConfig: m.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if err := ic.Login(m.Address("support"), "wrong").Wait(); !isIMAPCode(err, imap.ResponseCodeAuthenticationFailed) {
		t.Fatalf("IMAP LOGIN with a wrong password = %v, want AUTHENTICATIONFAILED", err)
	}
	ic.Close()

	// Outside senders may deliver to the domain only.
	if err := m.Send("someone@elsewhere.invalid", []string{m.Address("bob")}, raw); err != nil {
		t.Fatal(err)
	}
	if err := m.Send("someone@elsewhere.invalid", []string{"x@elsewhere.invalid"}, raw); err == nil {
		t.Fatal("an unauthenticated relay was accepted")
	}
	if _, err := m.WaitMessages("bob", "INBOX", 1, 20*time.Second); err != nil {
		t.Fatal(err)
	}

	// A restart keeps the mail; a new user gets mail at once.
	m.StopIMAP()
	if _, err := m.Messages("alice", "INBOX"); err == nil {
		t.Fatal("IMAP answered while stopped")
	}
	if err := m.StartIMAP(); err != nil {
		t.Fatal(err)
	}
	if err := m.AddUser("dave", "dave-password"); err != nil {
		t.Fatal(err)
	}
	if err := m.Send("someone@elsewhere.invalid", []string{m.Address("dave")}, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitMessages("dave", "INBOX", 1, 20*time.Second); err != nil {
		t.Fatal(err)
	}

	// Maildir files, then a recreated mailbox.
	if err := m.FillMaildir("carol", "INBOX", 50, func(i int) []byte {
		return fmt.Appendf(nil, "From: x@example.test\r\nSubject: %d\r\nMessage-ID: <fill-%d@example.test>\r\n\r\nbody %d\r\n", i, i, i)
	}); err != nil {
		t.Fatal(err)
	}
	msgs, err = m.Messages("carol", "INBOX")
	if err != nil || len(msgs) != 50 || !bytes.Contains(msgs[49], []byte("body 49")) {
		t.Fatalf("filled maildir: %d messages, %v", len(msgs), err)
	}
	if err := m.Append("carol", "Support", msgs[:3]...); err != nil {
		t.Fatal(err)
	}
	for _, box := range []string{"Support", "INBOX"} {
		if _, err := m.RecreateMailbox("carol", box); err != nil {
			t.Fatal(err)
		}
	}
	if msgs, err := m.Messages("carol", "Support"); err != nil || len(msgs) != 3 {
		t.Fatalf("recreated mailbox: %d messages, %v", len(msgs), err)
	}
}
