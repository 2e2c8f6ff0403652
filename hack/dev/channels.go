package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/emulators/telnyxtest"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// The sample workspace's simulated phone: the SMS number +15550100 is
// served by the Telnyx emulator (which signs its webhooks like Telnyx), and
// a customer's phone, +15550177, is a page in the browser.
const (
	devNumber   = "+15550100"
	devCustomer = "+15550177"
)

// routeToIngress makes this process's HTTP clients (the emulators post
// webhooks with them) reach *.switchboard.localhost through the dev
// ingress, as DNS and a load balancer would.
func routeToIngress(ingress string) {
	tr := http.DefaultTransport.(*http.Transport)
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, _ := net.SplitHostPort(addr); strings.HasSuffix(host, ".switchboard.localhost") {
			addr = ingress
		}
		return d.DialContext(ctx, network, addr)
	}
}

// devChannels are the sample workspace's working channels.
type devChannels struct {
	sms   *telnyxtest.Server
	hook  string
	mail  *harness.MailServer
	phone string // the simulated customer's page: phone and mailbox
}

// The sample workspace's mailbox and its customer's, on the local dovecot.
const (
	devMailbox       = "support"
	devMailCustomer  = "alice"
	devMailCustomerN = "Alice Example"
)

// startChannels connects the sample workspace acme to a simulated SMS
// network, and serves the customer's phone.
func startChannels(ctx context.Context, k8s client.Client, base string) (*devChannels, func(), error) {
	dc := &devChannels{hook: base + "/webhooks/telnyx/sms"}
	dc.sms = telnyxtest.New(telnyxtest.Options{WebhookURL: dc.hook, AutoStatus: true, StatusDelay: time.Second})
	say("starting a local mail server (dovecot for IMAP, postfix for SMTP) with the mailboxes %s@%s and %s@%s",
		devMailbox, "example.test", devMailCustomer, "example.test")
	mail, err := harness.StartMailServer(harness.MailOptions{})
	if err != nil {
		dc.sms.Close()
		return nil, nil, fmt.Errorf("mail server: %w", err)
	}
	dc.mail = mail
	cleanup := func() { dc.sms.Close(); mail.Close() }
	objs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ws-acme", Name: "telnyx-credentials"}, StringData: dc.sms.Credentials()},
		&tenancyv1.Integration{ObjectMeta: metav1.ObjectMeta{Namespace: "ws-acme", Name: "sms"}, Spec: tenancyv1.IntegrationSpec{
			Type: tenancyv1.IntegrationTelnyx, Config: dc.sms.Config(devNumber),
			CredentialsSecretRef: tenancyv1.SecretReference{Name: "telnyx-credentials"}, RemoveSourceSecret: true}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ws-acme", Name: "mailbox-credentials"},
			StringData: map[string]string{"password": mail.Password(devMailbox)}},
		&tenancyv1.Integration{ObjectMeta: metav1.ObjectMeta{Namespace: "ws-acme", Name: "email"}, Spec: tenancyv1.IntegrationSpec{
			Type: tenancyv1.IntegrationIMAP, CredentialsSecretRef: tenancyv1.SecretReference{Name: "mailbox-credentials"}, RemoveSourceSecret: true,
			Config: map[string]string{
				"imapHost": "127.0.0.1", "imapPort": strconv.Itoa(mail.IMAPSPort),
				"smtpHost": "127.0.0.1", "smtpPort": strconv.Itoa(mail.SMTPPort), "smtpSecurity": "starttls",
				"username": mail.Address(devMailbox), "fromName": "Acme Support", "caCertificate": string(mail.CACertPEM),
			}}},
	}
	for _, o := range objs {
		if err := k8s.Create(ctx, o); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
		fmt.Printf("    created %T %s/%s\n", o, o.GetNamespace(), o.GetName())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	dc.phone = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: dc.phoneHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return dc, func() { _ = srv.Close(); cleanup() }, nil
}

// waitConnected waits until the runtime reports that it opened an
// Integration with its credentials.
func waitConnected(ctx context.Context, k8s client.Client, name string) error {
	var last string
	return poll(ctx, func() (bool, error) {
		in := &tenancyv1.Integration{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "ws-acme", Name: name}, in); err == nil {
			if c := meta.FindStatusCondition(in.Status.Conditions, tenancyv1.ConditionReady); c != nil {
				last = c.Reason + ": " + c.Message
				return c.Reason == tenancyv1.ReasonRuntimeConnected, nil
			}
		}
		return false, nil
	}, func() error {
		return fmt.Errorf("integration ws-acme/%s was not connected by the runtime within 3 minutes (%s)", name, last)
	})
}

// sendMail sends an email from the customer to the workspace's mailbox,
// over the local postfix.
func (dc *devChannels) sendMail(subject, text string) error {
	from, to := dc.mail.Address(devMailCustomer), dc.mail.Address(devMailbox)
	raw := "From: " + devMailCustomerN + " <" + from + ">\r\nTo: " + to + "\r\nSubject: " + strings.ReplaceAll(subject, "\n", " ") +
		"\r\nMessage-ID: <dev-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@" + dc.mail.Domain + ">\r\nDate: " +
		time.Now().Format(time.RFC1123Z) + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n"
	return dc.mail.Send(from, []string{to}, []byte(raw))
}

// customerMail lists the replies in the customer's mailbox, newest first.
func (dc *devChannels) customerMail() []string {
	msgs, err := dc.mail.Messages(devMailCustomer, "INBOX")
	if err != nil {
		return []string{"(reading the mailbox failed: " + err.Error() + ")"}
	}
	var out []string
	for i := len(msgs) - 1; i >= 0; i-- {
		m, err := mail.ReadMessage(bytes.NewReader(msgs[i]))
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(m.Body, 2000))
		out = append(out, m.Header.Get("Date")+" · "+m.Header.Get("Subject")+" · "+strings.TrimSpace(string(body)))
	}
	return out
}

// sendSMS delivers an SMS from the customer's phone to the workspace.
func (dc *devChannels) sendSMS(text string) error {
	code, err := dc.sms.SendInbound(dc.hook, telnyxtest.Inbound{From: devCustomer, To: devNumber, Text: text})
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("the runtime answered the SMS webhook with %d", code)
	}
	return nil
}

var phonePage = template.Must(template.New("phone").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Simulated customer</title>
<meta http-equiv="refresh" content="5">
<style>body{font:15px system-ui;max-width:36rem;margin:2rem auto}li{margin:.4rem 0}.in{color:#555}form{display:flex;gap:.5rem}input{flex:1;padding:.4rem}</style>
</head><body>
<h1>A simulated customer</h1>
<h2>Phone {{.Customer}}</h2>
<p>This stands in for a customer's phone. It texts the sample workspace's number {{.Number}} through the Telnyx emulator, which signs its webhooks like Telnyx; the workspace's replies arrive here. Open the inbox in another tab to answer.</p>
<form method="post" action="/sms"><input name="text" placeholder="Text the workspace" required maxlength="1600"><button>Send SMS</button></form>
<h2>Texts from the workspace</h2>
<ul>{{range .Sent}}<li><strong>{{.At.Format "15:04:05"}}</strong> {{.Text}} <span class="in">({{.Parts}} part{{if ne .Parts 1}}s{{end}}, {{.Encoding}})</span></li>{{else}}<li class="in">none yet</li>{{end}}</ul>
<h2>Mailbox {{.MailFrom}}</h2>
<p>Writes to the workspace's mailbox {{.MailTo}} (IMAP on the local dovecot); replies arrive here over SMTP, through the local postfix.</p>
<form method="post" action="/mail"><input name="subject" placeholder="Subject" required maxlength="200"><input name="text" placeholder="Write to the workspace" required maxlength="5000"><button>Send email</button></form>
<ul>{{range .Mail}}<li>{{.}}</li>{{else}}<li class="in">no replies yet</li>{{end}}</ul>
</body></html>`))

func (dc *devChannels) phoneHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		var sent []telnyxtest.Sent
		for _, s := range dc.sms.Sent() {
			if s.To == devCustomer {
				sent = append([]telnyxtest.Sent{s}, sent...)
			}
		}
		_ = phonePage.Execute(w, map[string]any{"Customer": devCustomer, "Number": devNumber, "Sent": sent,
			"MailFrom": dc.mail.Address(devMailCustomer), "MailTo": dc.mail.Address(devMailbox), "Mail": dc.customerMail()})
	})
	mux.HandleFunc("POST /mail", func(w http.ResponseWriter, r *http.Request) {
		if err := dc.sendMail(r.PostFormValue("subject"), r.PostFormValue("text")); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /sms", func(w http.ResponseWriter, r *http.Request) {
		if err := dc.sendSMS(r.PostFormValue("text")); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	return mux
}

// smoke checks that the customer's texts reached acme's inbox: the first
// one, and one sent now through the phone page's own path.
func (dc *devChannels) smoke(ctx context.Context, adminDSN string) error {
	if err := dc.sendSMS("Smoke test: are you there?"); err != nil {
		return err
	}
	cfg, err := pgx.ParseConfig(adminDSN)
	if err != nil {
		return err
	}
	cfg.Database = contract.DatabaseNameOf("acme")
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM messages WHERE channel = 'telnyx/sms' AND direction = 'incoming'`).Scan(&n); err != nil {
		return err
	}
	if n < 2 {
		return fmt.Errorf("acme's inbox has %d texts from the simulated phone, want 2", n)
	}
	say("smoke test passed: the simulated phone's texts are in acme's inbox")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM messages WHERE channel = 'imap/email' AND direction = 'incoming'`).Scan(&n); err != nil {
			return err
		}
		if n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the customer's email never reached acme's inbox")
		}
		time.Sleep(500 * time.Millisecond)
	}
	say("smoke test passed: the customer's email is in acme's inbox")
	return nil
}
