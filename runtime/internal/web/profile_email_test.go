package web

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels/email"
	"github.com/switchboard-dev/switchboard/runtime/internal/integrations"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// withMailbox connects an "imap" Integration for the mail server's support
// mailbox to the fixture's server, as the workspace's only email channel.
func (f *fixture) withMailbox(t *testing.T, mail *harness.MailServer) {
	t.Helper()
	cfg := map[string]string{
		"imapHost": "127.0.0.1", "imapPort": fmt.Sprint(mail.IMAPSPort),
		"smtpHost": "127.0.0.1", "smtpPort": fmt.Sprint(mail.SMTPPort), "smtpSecurity": "starttls",
		"username": mail.Address("support"), "fromName": "Acme Support", "caCertificate": string(mail.CACertPEM),
	}
	pw := mail.Password("support")
	opts, err := email.OptionsFromConfig(cfg, pw)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := email.New(adapter.Deps{Name: "support", Key: contract.ChannelKey("imap", "support"),
		Info:        contract.ChannelInfo{Type: "imap", UID: "uid-support", Config: cfg, CredentialsVersion: 1},
		Credentials: map[string]string{"password": pw}, Inbox: f.srv.Inbox, Store: f.st,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Report: func(string, string, string) {}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	f.srv.Integrations = &fakeIntegrations{adapters: map[string]adapter.Adapter{"support": eng},
		types: map[string]string{"support": "imap"}, health: map[string]integrations.Status{}}
}

var confirmLink = regexp.MustCompile(`http://acme\.test(/email-change/[A-Za-z0-9_-]+)`)

// confirmationLink waits for the n-th mail in local's inbox and returns the
// path of the confirmation link in it.
func confirmationLink(t *testing.T, mail *harness.MailServer, local string, n int) string {
	t.Helper()
	msgs, err := mail.WaitMessages(local, "INBOX", n, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	raw := msgs[n-1]
	_, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	text, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("Subject: Confirm your new email address")) || !bytes.Contains(raw, []byte(mail.Address("support"))) {
		t.Errorf("confirmation mail:\n%s", raw)
	}
	m := confirmLink.FindSubmatch(text)
	if m == nil {
		t.Fatalf("no confirmation link in:\n%s", text)
	}
	return string(m[1])
}

func (f *fixture) userEmail(t *testing.T, role auth.Role) string {
	t.Helper()
	var e string
	if err := f.st.Pool.QueryRow(bg, `SELECT email FROM users WHERE id = $1`, f.users[role].ID).Scan(&e); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEmailChange: a member changes their sign-in email after confirming
// the new address through a link mailed by the workspace's email
// Integration (a real postfix and dovecot).
func TestEmailChange(t *testing.T) {
	f := newFixture(t)
	const who = auth.Viewer // any member, the least of them included

	// Without an email Integration nothing is offered, and nothing is sent.
	if _, page := f.settingsGet(who, "/settings/profile"); !strings.Contains(page, `data-testid="email-no-mailer"`) || strings.Contains(page, `id="email-form"`) {
		t.Errorf("profile without a mailer:\n%s", page)
	}
	if resp, errs := f.formPost(who, "/settings/profile/email", url.Values{"email": {"new@example.test"}, "password": {"password-for-tests"}}); resp.StatusCode != http.StatusConflict || errs["code"] != "no_mailer" {
		t.Errorf("without a mailer: %d %v", resp.StatusCode, errs)
	}

	mail, err := harness.StartMailServer(harness.MailOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mail.Close)
	f.withMailbox(t, mail)
	// The member's address is a mailbox, to read what the old address is told.
	if err := mail.AddUser("member", "member-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Pool.Exec(bg, `UPDATE users SET email = $1 WHERE id = $2`, mail.Address("member"), f.users[who].ID); err != nil {
		t.Fatal(err)
	}
	old := mail.Address("member")
	if _, page := f.settingsGet(who, "/settings/profile"); !strings.Contains(page, `id="email-form"`) {
		t.Errorf("profile with a mailer offers no change:\n%s", page)
	}

	alice, bob, carol := mail.Address("alice"), mail.Address("bob"), mail.Address("carol")
	for _, tt := range []struct {
		form         url.Values
		status       int
		field, about string
	}{
		{url.Values{"email": {"not an address"}, "password": {"password-for-tests"}}, 400, "email", "invalid address"},
		{url.Values{"email": {strings.ToUpper(old)}, "password": {"password-for-tests"}}, 400, "email", "their own address"},
		{url.Values{"email": {alice}, "password": {""}}, 400, "password", "no password"},
		{url.Values{"email": {alice}, "password": {"wrong-password"}}, 400, "password", "wrong password"},
		{url.Values{"email": {f.users[auth.Agent].Email}, "password": {"password-for-tests"}}, 409, "email", "another member's address"},
	} {
		resp, errs := f.formPost(who, "/settings/profile/email", tt.form)
		if resp.StatusCode != tt.status || errs["field"] != tt.field {
			t.Errorf("%s: %d %v, want %d on %s", tt.about, resp.StatusCode, errs, tt.status, tt.field)
		}
	}
	if msgs, _ := mail.Messages("alice", "INBOX"); len(msgs) != 0 {
		t.Errorf("a refused change sent %d mails", len(msgs))
	}

	// A change is asked for: mailed to the new address, pending until opened.
	resp, errs := f.formPost(who, "/settings/profile/email", url.Values{"email": {" " + strings.ToUpper(alice) + " "}, "password": {"password-for-tests"}})
	if resp.StatusCode != http.StatusOK || errs["redirect"] != "/settings/profile" {
		t.Fatalf("change: %d %v", resp.StatusCode, errs)
	}
	link := confirmationLink(t, mail, "alice", 1)
	if got := f.userEmail(t, who); got != old {
		t.Errorf("the email changed before the link was opened: %s", got)
	}
	if _, page := f.settingsGet(who, "/settings/profile"); !strings.Contains(page, `data-testid="email-pending"`) || !strings.Contains(page, alice) {
		t.Errorf("profile shows no pending change:\n%s", page)
	}
	if crmAudits(t, f, "user.email_change_requested", f.users[who].ID) != 1 {
		t.Error("the request is not audited")
	}
	var stored int
	if err := f.st.Pool.QueryRow(bg, `SELECT count(*) FROM email_changes WHERE token_hash = $1`, auth.HashToken(strings.TrimPrefix(link, "/email-change/"))).Scan(&stored); err != nil || stored != 1 {
		t.Errorf("the token is not stored as its hash: %d %v", stored, err)
	}

	// Opening the link (signed out) shows the change and changes nothing.
	resp = f.do("", http.MethodGet, link, nil, false)
	if page := f.body(resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, alice) || !strings.Contains(page, `action="`+link+`"`) {
		t.Errorf("link page: %d\n%s", resp.StatusCode, page)
	}
	if got := f.userEmail(t, who); got != old {
		t.Errorf("GET changed the email: %s", got)
	}
	// Confirming does; the member's session stays.
	resp = f.do("", http.MethodPost, link, nil, false)
	if page := f.body(resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="email-change-done"`) {
		t.Fatalf("confirm: %d\n%s", resp.StatusCode, page)
	}
	if got := f.userEmail(t, who); got != alice {
		t.Errorf("email after confirming: %s, want %s", got, alice)
	}
	if crmAudits(t, f, "user.email_changed", f.users[who].ID) != 1 {
		t.Error("the change is not audited")
	}
	// The old address is told, without the new one.
	msgs, err := mail.WaitMessages("member", "INBOX", 1, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if told := msgs[0]; !bytes.Contains(told, []byte("Subject: Your sign-in email for acme was changed")) || bytes.Contains(bytes.ToLower(told), []byte("alice")) {
		t.Errorf("the old address was told:\n%s", told)
	}
	if code, page := f.settingsGet(who, "/settings/profile"); code != http.StatusOK || !strings.Contains(page, alice) || strings.Contains(page, `data-testid="email-pending"`) {
		t.Errorf("profile after the change: %d", code)
	}
	// The link works once.
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if resp := f.do("", m, link, nil, false); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s a used link: %d, want 404", m, resp.StatusCode)
		}
	}

	// An expired link changes nothing.
	if resp, errs := f.formPost(who, "/settings/profile/email", url.Values{"email": {bob}, "password": {"password-for-tests"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("change to bob: %d %v", resp.StatusCode, errs)
	}
	link = confirmationLink(t, mail, "bob", 1)
	if _, err := f.st.Pool.Exec(bg, `UPDATE email_changes SET expires_at = now() - interval '1 second' WHERE user_id = $1`, f.users[who].ID); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if resp := f.do("", m, link, nil, false); resp.StatusCode != http.StatusGone {
			t.Errorf("%s an expired link: %d, want 410", m, resp.StatusCode)
		}
	}
	if got := f.userEmail(t, who); got != alice {
		t.Errorf("an expired link changed the email to %s", got)
	}

	// A new request replaces the pending one; a cancelled one's link is dead.
	if resp, _ := f.formPost(who, "/settings/profile/email", url.Values{"email": {carol}, "password": {"password-for-tests"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("change to carol: %d", resp.StatusCode)
	}
	first := confirmationLink(t, mail, "carol", 1)
	if resp, _ := f.formPost(who, "/settings/profile/email", url.Values{"email": {carol}, "password": {"password-for-tests"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("change to carol again: %d", resp.StatusCode)
	}
	second := confirmationLink(t, mail, "carol", 2)
	if resp := f.do("", http.MethodPost, first, nil, false); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a replaced link: %d, want 404", resp.StatusCode)
	}
	if resp, errs := f.formPost(who, "/settings/profile/email/cancel", url.Values{}); resp.StatusCode != http.StatusOK {
		t.Errorf("cancel: %d %v", resp.StatusCode, errs)
	}
	if resp := f.do("", http.MethodPost, second, nil, false); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a cancelled link: %d, want 404", resp.StatusCode)
	}
	if got := f.userEmail(t, who); got != alice {
		t.Errorf("email %s, want %s", got, alice)
	}
	if crmAudits(t, f, "user.email_change_cancelled", f.users[who].ID) != 1 {
		t.Error("the cancellation is not audited")
	}

	// Another member who took the address before the link is opened wins.
	if resp, _ := f.formPost(who, "/settings/profile/email", url.Values{"email": {carol}, "password": {"password-for-tests"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("change to carol a third time: %d", resp.StatusCode)
	}
	third := confirmationLink(t, mail, "carol", 3)
	if _, err := f.st.Pool.Exec(bg, `UPDATE users SET email = $1 WHERE id = $2`, carol, f.users[auth.Agent].ID); err != nil {
		t.Fatal(err)
	}
	if resp := f.do("", http.MethodPost, third, nil, false); resp.StatusCode != http.StatusConflict {
		t.Errorf("a link to a taken address: %d, want 409", resp.StatusCode)
	}
	if got := f.userEmail(t, who); got != alice {
		t.Errorf("email %s, want %s", got, alice)
	}

	// The API does the same.
	resp = f.api(who, http.MethodPost, "/api/v1/me/email", `{"email":"`+bob+`","password":"wrong-password"}`)
	if e := apiError(t, resp); resp.StatusCode != http.StatusBadRequest || e["field"] != "password" {
		t.Errorf("API, wrong password: %d %v", resp.StatusCode, e)
	}
	resp = f.api(who, http.MethodPost, "/api/v1/me/email", `{"email":"`+bob+`","password":"password-for-tests"}`)
	if b := f.body(resp); resp.StatusCode != http.StatusAccepted || !strings.Contains(b, `"newEmail":"`+bob+`"`) {
		t.Errorf("API change: %d %s", resp.StatusCode, b)
	}
	apiLink := confirmationLink(t, mail, "bob", 2)
	if resp := f.api(who, http.MethodDelete, "/api/v1/me/email", ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("API cancel: %d", resp.StatusCode)
	}
	if resp := f.do("", http.MethodPost, apiLink, nil, false); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a link cancelled by the API: %d, want 404", resp.StatusCode)
	}
}
