package microsoft

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/emulators/microsofttest"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
	"github.com/switchboard-dev/switchboard/test/harness"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestMailbox runs a microsoft Integration against a real dovecot and
// postfix whose logins check XOAUTH2 bearer tokens at the emulator's
// introspection endpoint: nothing works before an admin connects the
// mailbox; then a customer's mail is synced into the inbox over IMAP, and
// an agent's reply goes out over SMTP (AUTH XOAUTH2) into the customer's
// mailbox, threaded; a revoked grant stops both, reported as
// ReauthorizationRequired, until the mailbox is connected again.
func TestMailbox(t *testing.T) {
	idp := microsofttest.New(microsofttest.Options{RedirectURIs: []string{redirectURI}})
	t.Cleanup(idp.Close)
	ms, err := harness.StartMailServer(harness.MailOptions{OAuth2IntrospectionURL: idp.IntrospectionURL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ms.Close)
	st := storetest.NewDB(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := inbox.New(st, live.New(st.Pool, logger))
	mailbox := ms.Address("support")
	rep := &reports{}
	tokens := &memTokens{allow: -1}
	a0, err := New(adapter.Deps{
		Name: "support", Key: contract.ChannelKey(Type, "support"),
		Info: contract.ChannelInfo{Type: Type, UID: "uid-1", CredentialsVersion: 1, Config: map[string]string{
			ConfigTenant: idp.Tenant, ConfigMailbox: mailbox, ConfigAuthority: idp.URL,
			ConfigIMAPAddr: ms.IMAPAddr(), ConfigIMAPSecurity: "starttls",
			ConfigSMTPAddr: ms.SMTPAddr(), ConfigSMTPSecurity: "starttls",
			ConfigCACertificate: string(ms.CACertPEM), ConfigFromName: "Acme Support"}},
		Credentials: map[string]string{CredClientID: idp.ClientID, CredClientSecret: idp.ClientSecret},
		Tokens:      tokens, Inbox: svc, Store: st, Log: logger, Report: rep.report,
	})
	if err != nil {
		t.Fatal(err)
	}
	a := a0.(*Adapter)
	svc.Resolve = func(key string) (inbox.Channel, bool) { return a, key == a.Name() }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	go (&channels.Worker{Inbox: svc, Log: logger, Interval: 50 * time.Millisecond}).Run(ctx)
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
		if creds := a.Credentials(); len(creds) != 0 {
			t.Errorf("after Close the adapter holds %d secrets", len(creds))
		}
	})

	if h := rep.waitFor(t, contract.HealthReauthorizationRequired); h.code != "" {
		t.Errorf("before connecting: %+v", h)
	}

	// An admin connects the mailbox (the web layer's part, as in oauth_test).
	verifier, challenge := pkce()
	back, err := idp.Authorize(a.AuthorizeURL(redirectURI, "st", challenge))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Connect(ctx, back.Query().Get("code"), verifier, redirectURI); err != nil {
		t.Fatal(err)
	}

	// A customer writes; the mail reaches the inbox over IMAP.
	customer := ms.Address("alice")
	question := fmt.Sprintf("From: Alice <%s>\r\nTo: %s\r\nSubject: Order 1234\r\nMessage-ID: <q1@alice.example.test>\r\nDate: %s\r\n\r\nWhere is my order?\r\n",
		customer, mailbox, time.Now().Format(time.RFC1123Z))
	if err := ms.Send(customer, []string{mailbox}, []byte(question)); err != nil {
		t.Fatal(err)
	}
	conv := waitConversation(t, st, a.Name())
	if h := rep.last(); h.state != contract.HealthConnected {
		t.Errorf("after the sync: %+v", h)
	}
	if idp.Introspections() == 0 {
		t.Error("dovecot never asked the identity provider about a token")
	}

	// An agent answers; the reply goes out over SMTP into Alice's mailbox.
	agent, err := st.CreateUser(ctx, st.Pool, &store.User{Email: "agent@acme.example", Name: "Agent", Role: "agent", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Reply(ctx, agent.ID, conv, "It ships today."); err != nil {
		t.Fatal(err)
	}
	msgs, err := ms.WaitMessages("alice", "INBOX", 1, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r, err := mail.CreateReader(bytes.NewReader(msgs[0]))
	if err != nil {
		t.Fatal(err)
	}
	from, _ := r.Header.AddressList("From")
	inReplyTo, _ := r.Header.MsgIDList("In-Reply-To")
	body, _ := io.ReadAll(mustPart(t, r).Body)
	if len(from) != 1 || from[0].Address != mailbox || len(inReplyTo) != 1 || inReplyTo[0] != "q1@alice.example.test" ||
		!strings.Contains(string(body), "It ships today.") {
		t.Errorf("the reply: from %v, in reply to %v, body %q", from, inReplyTo, body)
	}
	// Both logins were XOAUTH2, as the mailbox's user: dovecot logs the
	// IMAP login's method, postfix the SMTP one's.
	logs := ms.Logs()
	for _, want := range []string{"imap-login: Info: Login: user=<" + mailbox + ">, method=XOAUTH2", "sasl_method=XOAUTH2, sasl_username=" + mailbox} {
		if !strings.Contains(logs, want) {
			t.Errorf("the servers' logs lack %q:\n%s", want, logs)
		}
	}

	// The grant is revoked: the next login is refused, the token cannot be
	// refreshed, and the mailbox waits for an admin.
	idp.Revoke()
	ms.StopIMAP()
	if err := ms.StartIMAP(); err != nil {
		t.Fatal(err)
	}
	h := rep.waitFor(t, contract.HealthReauthorizationRequired)
	if h.code != "invalid_grant" {
		t.Errorf("after the revocation: %+v", h)
	}
	if _, err := svc.Reply(ctx, agent.ID, conv, "One more thing."); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, st, conv, "failed")

	// Connected again, the mailbox works at once.
	verifier, challenge = pkce()
	if back, err = idp.Authorize(a.AuthorizeURL(redirectURI, "st2", challenge)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Connect(ctx, back.Query().Get("code"), verifier, redirectURI); err != nil {
		t.Fatal(err)
	}
	rep.waitFor(t, contract.HealthConnected)
	second := strings.ReplaceAll(strings.ReplaceAll(question, "q1@", "q2@"), "Where is my order?", "Any news?")
	if err := ms.Send(customer, []string{mailbox}, []byte(second)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND direction = 'incoming'`, conv).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second mail did not arrive: %d inbound messages\n%s", n, ms.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustPart(t *testing.T, r *mail.Reader) *mail.Part {
	t.Helper()
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitConversation waits for the first conversation on channel.
func waitConversation(t *testing.T, st *store.Store, channel string) int64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var id int64
		err := st.Pool.QueryRow(context.Background(), `SELECT id FROM conversations WHERE channel = $1 ORDER BY id LIMIT 1`, channel).Scan(&id)
		if err == nil {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("no conversation on %s: %v", channel, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStatus waits until the conversation's last outgoing message has
// delivery status want.
func waitStatus(t *testing.T, st *store.Store, conv int64, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		err := st.Pool.QueryRow(context.Background(), `SELECT coalesce(delivery_status, '') FROM messages
			WHERE conversation_id = $1 AND direction = 'outgoing' ORDER BY id DESC LIMIT 1`, conv).Scan(&got)
		if err == nil && got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the last reply is %q, want %q", got, want)
}
