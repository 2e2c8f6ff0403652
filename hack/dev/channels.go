package main

import (
	"context"
	"fmt"
	"html/template"
	"net"
	"net/http"
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
	phone string // the simulated phone's page
}

// startChannels connects the sample workspace acme to a simulated SMS
// network, and serves the customer's phone.
func startChannels(ctx context.Context, k8s client.Client, base string) (*devChannels, func(), error) {
	dc := &devChannels{hook: base + "/webhooks/telnyx/sms"}
	dc.sms = telnyxtest.New(telnyxtest.Options{WebhookURL: dc.hook, AutoStatus: true, StatusDelay: time.Second})
	cleanup := dc.sms.Close
	objs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ws-acme", Name: "telnyx-credentials"}, StringData: dc.sms.Credentials()},
		&tenancyv1.Integration{ObjectMeta: metav1.ObjectMeta{Namespace: "ws-acme", Name: "sms"}, Spec: tenancyv1.IntegrationSpec{
			Type: tenancyv1.IntegrationTelnyx, Config: dc.sms.Config(devNumber),
			CredentialsSecretRef: tenancyv1.SecretReference{Name: "telnyx-credentials"}, RemoveSourceSecret: true}},
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
<html lang="en"><head><meta charset="utf-8"><title>Simulated phone {{.Customer}}</title>
<meta http-equiv="refresh" content="5">
<style>body{font:15px system-ui;max-width:36rem;margin:2rem auto}li{margin:.4rem 0}.in{color:#555}form{display:flex;gap:.5rem}input{flex:1;padding:.4rem}</style>
</head><body>
<h1>Phone {{.Customer}}</h1>
<p>This stands in for a customer's phone. It texts the sample workspace's number {{.Number}} through the Telnyx emulator, which signs its webhooks like Telnyx; the workspace's replies arrive here. Open the inbox in another tab to answer.</p>
<form method="post" action="/sms"><input name="text" placeholder="Text the workspace" required maxlength="1600"><button>Send SMS</button></form>
<h2>Texts from the workspace</h2>
<ul>{{range .Sent}}<li><strong>{{.At.Format "15:04:05"}}</strong> {{.Text}} <span class="in">({{.Parts}} part{{if ne .Parts 1}}s{{end}}, {{.Encoding}})</span></li>{{else}}<li class="in">none yet</li>{{end}}</ul>
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
		_ = phonePage.Execute(w, map[string]any{"Customer": devCustomer, "Number": devNumber, "Sent": sent})
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
	return nil
}
