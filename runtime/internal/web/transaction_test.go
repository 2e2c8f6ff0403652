package web

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

// TestNoChangeWithoutItsAuditEntry: a change and its audit entry are one
// transaction. When the entry cannot be written, the request fails and the
// change is not made either; the entry is never dropped with the change
// kept.
func TestNoChangeWithoutItsAuditEntry(t *testing.T) {
	f := newFixture(t)
	if _, err := f.st.Pool.Exec(bg, `CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'the audit log refuses writes'; END $$;
		CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()`); err != nil {
		t.Fatal(err)
	}
	agent := f.users[auth.Agent].ID
	for _, tt := range []struct {
		name  string
		send  func() *http.Response
		count string // what the change would change
	}{
		{"sign-in", func() *http.Response {
			resp, err := noRedirect().PostForm(f.ts.URL+"/login", url.Values{"email": {"agent@acme.example"}, "password": {"password-for-tests"}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}, `SELECT count(*) FROM sessions`},
		{"role", func() *http.Response {
			return f.do(auth.Admin, http.MethodPost, fmt.Sprintf("/settings/users/%d/role", agent), url.Values{"role": {"viewer"}}, false)
		}, fmt.Sprintf(`SELECT count(*) FROM users WHERE id = %d AND role = 'agent'`, agent)},
		{"disable", func() *http.Response {
			return f.do(auth.Admin, http.MethodPost, fmt.Sprintf("/settings/users/%d/disable", agent), nil, false)
		}, `SELECT count(*) FROM users WHERE disabled_at IS NULL`},
		{"team", func() *http.Response {
			return f.do(auth.Admin, http.MethodPost, "/settings/teams", url.Values{"name": {"Support"}}, false)
		}, `SELECT count(*) FROM teams`},
		{"invite", func() *http.Response {
			return f.do(auth.Admin, http.MethodPost, "/settings/invites", url.Values{"email": {"new@acme.example"}, "role": {"agent"}}, false)
		}, `SELECT count(*) FROM invites`},
		{"canned reply", func() *http.Response {
			return f.api(auth.Admin, http.MethodPost, "/api/v1/canned-replies", `{"shortcut":"hi","title":"Hi","body":"Hello"}`)
		}, `SELECT count(*) FROM canned_replies`},
		{"API token", func() *http.Response {
			return f.api(auth.Agent, http.MethodPost, "/api/v1/tokens", `{"name":"ci"}`)
		}, `SELECT count(*) FROM api_tokens`},
		{"webhook", func() *http.Response {
			return f.do(auth.Admin, http.MethodPost, "/settings/api-channel", url.Values{"webhook_url": {"https://hook.example/in"}}, false)
		}, `SELECT count(*) FROM api_channel WHERE webhook_url <> ''`},
		{"conversation", func() *http.Response {
			return f.api(auth.Agent, http.MethodPatch, fmt.Sprintf("/api/v1/conversations/%d", f.convID), `{"priority":"high"}`)
		}, `SELECT (SELECT count(*) FROM conversations WHERE priority = 'high') + (SELECT count(*) FROM conversation_events)`},
		{"reply", func() *http.Response {
			return f.api(auth.Agent, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/replies", f.convID), `{"text":"hello"}`)
		}, `SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM outbox)`},
		{"inbound message", func() *http.Response {
			return f.api(auth.Agent, http.MethodPost, "/api/v1/messages", `{"contact":{"identifier":"new@x.example"},"messageId":"m-1","text":"hi"}`)
		}, `SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM contacts)`},
		{"contact", func() *http.Response {
			return f.api(auth.Agent, http.MethodPost, "/api/v1/contacts", `{"name":"Grace"}`)
		}, `SELECT count(*) FROM contacts`},
	} {
		var before, after int
		if err := f.st.Pool.QueryRow(bg, tt.count).Scan(&before); err != nil {
			t.Fatal(err)
		}
		resp := tt.send()
		if err := f.st.Pool.QueryRow(bg, tt.count).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusInternalServerError || after != before {
			t.Errorf("%s with the audit log refusing writes: %d, and %d rows became %d; want 500 and no change", tt.name, resp.StatusCode, before, after)
		}
	}
}
