package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/runtime/emulators/telnyxtest"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// routeToIngress makes this process's default HTTP transport (which the
// provider emulators post webhooks with) reach *.switchboard.localhost
// through the dev ingress, as DNS and a load balancer would.
func routeToIngress(ingress string) func() {
	tr := http.DefaultTransport.(*http.Transport)
	before := tr.DialContext
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		if strings.HasSuffix(host, ".switchboard.localhost") {
			addr = ingress
		}
		return d.DialContext(ctx, network, addr)
	}
	return func() { tr.DialContext = before }
}

// member is a signed-in tenant user, with a session (for the live feed)
// and an API token.
type member struct {
	t     *testing.T
	base  string
	http  *http.Client
	csrf  string
	token string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signInOwner signs in as the first owner with the one-time password from
// the initial-owner Secret, replaces it, and makes an API token.
func signInOwner(t *testing.T, ctx context.Context, k8s client.Client, base string) *member {
	t.Helper()
	sec := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "ws-acme", Name: "initial-owner"}, sec); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	m := &member{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	resp := m.form("/login", url.Values{"email": {"owner@acme.example"}, "password": {string(sec.Data["password"])}})
	page := m.page("/password")
	m.csrf = csrfField.FindStringSubmatch(page)[1]
	resp = m.form("/password", url.Values{"csrf": {m.csrf}, "current": {string(sec.Data["password"])}, "new": {"e2e-owner-password-1"}, "confirm": {"e2e-owner-password-1"}})
	_ = resp
	page = m.page("/settings")
	if mm := csrfField.FindStringSubmatch(page); mm != nil {
		m.csrf = mm[1]
	}
	var tok struct {
		Token string `json:"token"`
	}
	m.api(http.MethodPost, "/api/v1/tokens", map[string]any{"name": "e2e"}, &tok, true)
	if tok.Token == "" {
		t.Fatal("no API token was made")
	}
	m.token = tok.Token
	return m
}

func (m *member) form(path string, v url.Values) *http.Response {
	m.t.Helper()
	resp, err := m.http.PostForm(m.base+path, v)
	if err != nil {
		m.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		m.t.Fatalf("POST %s: %s", path, resp.Status)
	}
	return resp
}

func (m *member) page(path string) string {
	m.t.Helper()
	resp, err := m.http.Get(m.base + path)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		m.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	return string(b)
}

// api calls the JSON API with the token (or, with session, the session
// cookie and CSRF token) and decodes the answer into out.
func (m *member) api(method, path string, in, out any, session bool) int {
	m.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, m.base+path, body)
	req.Header.Set("Content-Type", "application/json")
	c := m.http
	if session {
		req.Header.Set("X-CSRF-Token", m.csrf)
	} else {
		req.Header.Set("Authorization", "Bearer "+m.token)
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		m.t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			m.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// liveFeed follows /events as the inbox page does, and sends each event's
// data on the channel.
func (m *member) liveFeed(ctx context.Context) <-chan string {
	out := make(chan string, 64)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.base+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	c := &http.Client{Jar: m.http.Jar}
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		m.t.Fatalf("GET /events: %v %v", resp, err)
	}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var event string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				select {
				case out <- event + " " + v:
				default:
				}
			}
		}
	}()
	return out
}

type conversation struct {
	ID      int64  `json:"id"`
	Channel string `json:"channel"`
	Preview string `json:"preview"`
	Subject string `json:"subject"`
}

// waitConversation waits for a conversation on channel whose latest message
// contains text.
func (m *member) waitConversation(channel, text string) conversation {
	m.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		var out struct {
			Conversations []conversation `json:"conversations"`
		}
		m.api(http.MethodGet, "/api/v1/conversations?status=all", nil, &out, false)
		for _, c := range out.Conversations {
			if c.Channel == channel && strings.Contains(c.Preview, text) {
				return c
			}
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("no conversation on %s shows %q: %+v", channel, text, out.Conversations)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitEvent waits for a live event naming the conversation.
func waitEvent(t *testing.T, feed <-chan string, conversationID int64) {
	t.Helper()
	want := fmt.Sprintf("conversation-%d message.created", conversationID)
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e := <-feed:
			if e == want {
				return
			}
		case <-timeout:
			t.Fatalf("the live feed never announced %q", want)
		}
	}
}

func integrationCondition(ctx context.Context, k8s client.Client, name string) *metav1.Condition {
	in := &tenancyv1.Integration{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "ws-acme", Name: name}, in); err != nil {
		return nil
	}
	return meta.FindStatusCondition(in.Status.Conditions, tenancyv1.ConditionReady)
}

func waitIntegration(t *testing.T, ctx context.Context, k8s client.Client, name, reason string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c := integrationCondition(ctx, k8s, name)
		if c != nil && c.Reason == reason {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Integration %s never reached %s: %+v", name, reason, c)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// exerciseChannels runs real conversations through Integrations applied
// to the running system: a Telnyx SMS number (against the Telnyx
// emulator, which signs its webhooks like Telnyx), then an IMAP mailbox.
//
// Every credential it hands the system is added to secrets, which no log
// may hold.
func exerciseChannels(t *testing.T, ctx context.Context, k8s client.Client, ingress, podLogs string, secrets map[string]string) {
	defer routeToIngress(ingress)()
	base := "http://acme.switchboard.localhost"
	hook := base + "/webhooks/telnyx/sms"
	tx := telnyxtest.New(telnyxtest.Options{WebhookURL: hook, AutoStatus: true, StatusDelay: 100 * time.Millisecond})
	defer tx.Close()

	owner := signInOwner(t, ctx, k8s, base)
	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	feed := owner.liveFeed(feedCtx)

	// 1. Apply a Telnyx Integration.
	creds := tx.Credentials()
	secrets["telnyx apiKey"] = creds["apiKey"]
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ws-acme", Name: "telnyx"}, StringData: creds}
	if err := k8s.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	in := &tenancyv1.Integration{ObjectMeta: metav1.ObjectMeta{Namespace: "ws-acme", Name: "sms"}, Spec: tenancyv1.IntegrationSpec{
		Type: tenancyv1.IntegrationTelnyx, Config: tx.Config("+15550001"), CredentialsSecretRef: tenancyv1.SecretReference{Name: "telnyx"}}}
	if err := k8s.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	// The runtime opens it, checks the key against the messaging profile,
	// and reports back through Vault: Ready=True RuntimeConnected.
	waitIntegration(t, ctx, k8s, "sms", tenancyv1.ReasonRuntimeConnected)

	// 2. A signed inbound SMS appears in the inbox, announced live.
	code, err := tx.SendInbound(hook, telnyxtest.Inbound{From: "+15550177", To: "+15550001", Text: "Is my order on its way?"})
	if err != nil || code != 200 {
		t.Fatalf("inbound SMS webhook: %d %v", code, err)
	}
	conv := owner.waitConversation("telnyx/sms", "Is my order on its way?")
	waitEvent(t, feed, conv.ID)
	// A forged one is refused and stored nowhere.
	forged := telnyxtest.New(telnyxtest.Options{})
	if code, _ := forged.SendInbound(hook, telnyxtest.Inbound{From: "+15550177", To: "+15550001", Text: "forged"}); code != 401 && code != 403 {
		t.Fatalf("a webhook signed with another key got %d", code)
	}
	forged.Close()

	// 3. An agent's reply reaches Telnyx, and its delivery receipt comes back.
	var reply struct {
		Message struct {
			ID int64 `json:"id"`
		} `json:"message"`
	}
	owner.api(http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/replies", conv.ID), map[string]any{"text": "It ships today."}, &reply, false)
	waitFor(t, "the reply to reach the Telnyx emulator", func() bool {
		for _, s := range tx.Sent() {
			if s.Text == "It ships today." && s.To == "+15550177" && s.From == "+15550001" {
				return true
			}
		}
		return false
	})
	waitFor(t, "the delivery receipt to mark the reply delivered", func() bool {
		var out struct {
			Messages []struct {
				ID             int64  `json:"id"`
				DeliveryStatus string `json:"deliveryStatus"`
			} `json:"messages"`
		}
		owner.api(http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d", conv.ID), nil, &out, false)
		for _, m := range out.Messages {
			if m.ID == reply.Message.ID && m.DeliveryStatus == "delivered" {
				return true
			}
		}
		return false
	})

	// 4. Rotating the Secret switches keys with no restart: the runtime
	// takes the new key, and the old signing key is refused.
	servingBefore := strings.Count(readLogs(t, podLogs), `msg=serving`)
	rotated := tx.RotateKeys()
	secrets["rotated telnyx apiKey"] = rotated["apiKey"]
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(sec), sec); err != nil {
		t.Fatal(err)
	}
	sec.Data, sec.StringData = nil, rotated
	if err := k8s.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the runtime to take the rotated webhook key", func() bool {
		code, err := tx.SendInbound(hook, telnyxtest.Inbound{From: "+15550177", To: "+15550001", Text: "After the rotation"})
		return err == nil && code == 200
	})
	owner.waitConversation("telnyx/sms", "After the rotation")
	if n := strings.Count(readLogs(t, podLogs), `msg=serving`); n != servingBefore {
		t.Fatalf("the runtime restarted for the rotation (%d serving lines, was %d)", n, servingBefore)
	}

	// 5. Disconnecting stops the adapter: its webhook is gone within 5 s
	// of the runtime seeing the manifest change.
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(in), in); err != nil {
		t.Fatal(err)
	}
	in.Spec.Disconnected = true
	if err := k8s.Update(ctx, in); err != nil {
		t.Fatal(err)
	}
	waitIntegration(t, ctx, k8s, "sms", tenancyv1.ReasonDisconnected)
	deadline := time.Now().Add(5*time.Second + 2*time.Second) // the runtime polls the manifest every 2 s
	for {
		code, _ := tx.SendInbound(hook, telnyxtest.Inbound{From: "+15550177", To: "+15550001", Text: "after disconnect"})
		if code == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the disconnected SMS adapter still answers webhooks (%d)", code)
		}
		time.Sleep(100 * time.Millisecond)
	}

	exerciseEmail(t, ctx, k8s, owner, feed, secrets)

	// The Integrations' status and events name no credential.
	var list tenancyv1.IntegrationList
	if err := k8s.List(ctx, &list, client.InNamespace("ws-acme")); err != nil {
		t.Fatal(err)
	}
	var events corev1.EventList
	if err := k8s.List(ctx, &events, client.InNamespace("ws-acme")); err != nil {
		t.Fatal(err)
	}
	dump, _ := json.Marshal([]any{list, events})
	if found := harness.FindSecrets(string(dump), secrets); len(found) > 0 {
		t.Fatalf("Integration status or events hold credentials: %v", found)
	}
}

// exerciseEmail connects the workspace to a mailbox on a real dovecot and
// postfix (TLS, a private CA): a customer's mail arrives in the inbox, and
// the agent's reply arrives in the customer's mailbox with the threading
// headers that make mail clients put it in the same thread.
func exerciseEmail(t *testing.T, ctx context.Context, k8s client.Client, owner *member, feed <-chan string, secrets map[string]string) {
	mail, err := harness.StartMailServer(harness.MailOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer mail.Close()
	secrets["mailbox password"] = mail.Password("support")
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ws-acme", Name: "mailbox"},
		StringData: map[string]string{"password": mail.Password("support")}}
	if err := k8s.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	in := &tenancyv1.Integration{ObjectMeta: metav1.ObjectMeta{Namespace: "ws-acme", Name: "support"}, Spec: tenancyv1.IntegrationSpec{
		Type: tenancyv1.IntegrationIMAP, CredentialsSecretRef: tenancyv1.SecretReference{Name: "mailbox"}, RemoveSourceSecret: true,
		Config: map[string]string{
			"imapHost": "127.0.0.1", "imapPort": fmt.Sprint(mail.IMAPSPort),
			"smtpHost": "127.0.0.1", "smtpPort": fmt.Sprint(mail.SMTPPort), "smtpSecurity": "starttls",
			"username": mail.Address("support"), "fromName": "Acme Support", "caCertificate": string(mail.CACertPEM),
		}}}
	if err := k8s.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	waitIntegration(t, ctx, k8s, "support", tenancyv1.ReasonRuntimeConnected)

	customer := mail.Address("alice")
	first := "<first-" + fmt.Sprint(time.Now().UnixNano()) + "@" + mail.Domain + ">"
	raw := "From: Alice <" + customer + ">\r\nTo: " + mail.Address("support") + "\r\nSubject: Broken zipper\r\nMessage-ID: " + first +
		"\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe zipper on my jacket broke after a week.\r\n"
	if err := mail.Send(customer, []string{mail.Address("support")}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	conv := owner.waitConversation("imap/support", "zipper on my jacket")
	waitEvent(t, feed, conv.ID)
	if conv.Subject != "Broken zipper" {
		t.Errorf("the conversation's subject is %q", conv.Subject)
	}

	owner.api(http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/replies", conv.ID), map[string]any{"text": "Sorry! A new jacket is on its way."}, nil, false)
	msgs, err := mail.WaitMessages("alice", "INBOX", 1, 60*time.Second)
	if err != nil {
		t.Fatalf("the reply never reached alice's mailbox: %v\n%s", err, lastLines(mail.Logs(), 20))
	}
	got := string(msgs[len(msgs)-1])
	for _, want := range []string{"In-Reply-To: " + first, "References: " + first, "Subject: Re: Broken zipper", "A new jacket is on its way."} {
		if !strings.Contains(got, want) {
			t.Errorf("the reply in alice's mailbox lacks %q:\n%s", want, got)
		}
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readLogs(t *testing.T, glob string) string {
	t.Helper()
	files, _ := filepath.Glob(glob)
	var all strings.Builder
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all.Write(b)
	}
	return all.String()
}
