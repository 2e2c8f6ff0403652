package email

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// The vector from Microsoft's and Google's XOAUTH2 documentation.
func TestXOAuth2Vector(t *testing.T) {
	x := NewXOAuth2Client("user", "mF_9.B5f-4.1JqM")
	mech, ir, err := x.Start()
	if err != nil || mech != "XOAUTH2" {
		t.Fatalf("Start = %q, %v", mech, err)
	}
	if got := base64.StdEncoding.EncodeToString(ir); got != "dXNlcj11c2VyAWF1dGg9QmVhcmVyIG1GXzkuQjVmLTQuMUpxTQEB" {
		t.Fatalf("initial response %s", got)
	}
	// A refusal comes as one challenge (the error), answered empty.
	resp, err := x.Next([]byte(`{"status":"401","schemes":"bearer"}`))
	if err != nil || resp == nil || len(resp) != 0 || !strings.Contains(x.ServerError, "401") {
		t.Fatalf("Next = %q, %v (%q)", resp, err, x.ServerError)
	}
	if _, err := x.Next([]byte("again")); err == nil {
		t.Fatal("a second challenge must fail the exchange")
	}
}

// TestXOAuth2 logs in over IMAP and SMTP with bearer tokens that dovecot
// checks at an introspection endpoint (as it would at an identity
// provider's), and reports a token it refuses as AuthFailed.
func TestXOAuth2(t *testing.T) {
	var introspected atomic.Int32
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		introspected.Add(1)
		_ = r.ParseForm()
		active := r.PostForm.Get("token") == "good-token"
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"active": active, "email": "support@example.test"})
	}))
	t.Cleanup(idp.Close)
	mail, err := harness.StartMailServer(harness.MailOptions{OAuth2IntrospectionURL: idp.URL + "/introspect"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mail.Close)
	e := newEnv(t, mail)

	var token atomic.Value
	token.Store("good-token")
	r := &reports{}
	o, err := OptionsFromConfig(e.config("support"), "unused")
	if err != nil {
		t.Fatal(err)
	}
	o.Auth = XOAuth2(mail.Address("support"), func(context.Context) (string, error) { return token.Load().(string), nil })
	o.RetryMin, o.RetryMax, o.AuthRetry = 100*time.Millisecond, time.Second, time.Second
	eng, err := New(e.deps("oauth", nil, "", r), o)
	if err != nil {
		t.Fatal(err)
	}
	if c := eng.Credentials(); len(c) != 0 {
		t.Errorf("an XOAUTH2 engine holds %q: the token source is its caller's", c)
	}
	if err := mail.Append("support", "INBOX", mailFrom(mail.Address("alice"), mail.Address("support"), "Token", "x1@alice.test", nil, "hi")); err != nil {
		t.Fatal(err)
	}
	e.run(t, eng)
	r.wait(t, contract.HealthConnected, "", 30*time.Second)
	got := e.waitMessages(t, eng.Name(), 1)
	if introspected.Load() == 0 {
		t.Fatal("dovecot never asked the introspection endpoint")
	}

	// SMTP AUTH XOAUTH2 through postfix, which asks dovecot.
	e.reply(t, got[0].conv, "Answered with a bearer token.")
	if _, err := mail.WaitMessages("alice", "INBOX", 1, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	// A token the provider no longer accepts: refused on both.
	token.Store("revoked-token")
	msg, err := e.svc.Reply(bg, e.agent, got[0].conv, "again")
	if err != nil {
		t.Fatal(err)
	}
	_, err = eng.Deliver(bg, inbox.Outbound{MessageID: msg.ID, ConversationID: got[0].conv, Channel: eng.Name(), Identifier: mail.Address("alice"), Body: "again"})
	var ae *AuthError
	if !adapter.IsPermanent(err) || !errors.As(err, &ae) || ae.Code != "535" {
		t.Fatalf("SMTP with a refused token: %v", err)
	}
	mail.StopIMAP() // the engine logs in again, with the refused token
	if err := mail.StartIMAP(); err != nil {
		t.Fatal(err)
	}
	r.wait(t, contract.HealthAuthFailed, "AUTHENTICATIONFAILED", 30*time.Second)

	// A token source that says the grant is gone is reported as it says.
	r2 := &reports{}
	eng2, err := New(e.deps("gone", nil, "", r2), Options{IMAP: o.IMAP, SMTP: o.SMTP, TLSConfig: o.TLSConfig, FromAddress: o.FromAddress,
		Auth: XOAuth2(mail.Address("support"), func(context.Context) (string, error) {
			return "", &AuthError{State: contract.HealthReauthorizationRequired, Code: "invalid_grant", Message: "reconnect the mailbox"}
		})})
	if err != nil {
		t.Fatal(err)
	}
	e.run(t, eng2)
	r2.wait(t, contract.HealthReauthorizationRequired, "invalid_grant", 30*time.Second)
}
