package web

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

// TestUsageEvents signs in, takes a message through the API, replies in the
// inbox, writes a note and exports contacts, and checks that each is one
// row of usage_events with the right ids and counts, and nothing else:
// no note, no text.
func TestUsageEvents(t *testing.T) {
	f := newFixture(t)
	if _, err := f.st.Pool.Exec(bg, `DELETE FROM usage_events`); err != nil { // the fixture's seed message
		t.Fatal(err)
	}
	resp, err := noRedirect().PostForm(f.ts.URL+"/login", url.Values{"email": {"agent@acme.example"}, "password": {"password-for-tests"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	if resp := f.api(auth.Agent, http.MethodPost, "/api/v1/messages", `{"contact":{"identifier":"+15550199","name":"Grace"},"messageId":"u-1","text":"Hello"}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("ingest: %d", resp.StatusCode)
	}
	if resp := f.do(auth.Agent, http.MethodPost, fmt.Sprintf("/inbox/conversations/%d/reply", f.convID), url.Values{"body": {"Thanks, Ada"}}, false); resp.StatusCode >= 400 {
		t.Fatalf("reply: %d", resp.StatusCode)
	}
	if resp := f.do(auth.Agent, http.MethodPost, fmt.Sprintf("/inbox/conversations/%d/note", f.convID), url.Values{"body": {"internal"}}, false); resp.StatusCode >= 400 {
		t.Fatalf("note: %d", resp.StatusCode)
	}
	resp = f.do(auth.Admin, http.MethodGet, "/contacts/export.csv", nil, false)
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "Grace") {
		t.Fatalf("export: %d", resp.StatusCode)
	}

	agent, admin := f.users[auth.Agent].ID, f.users[auth.Admin].ID
	var ada, grace, graceConv, tokenID int64
	f.st.Pool.QueryRow(bg, `SELECT contact_id FROM conversations WHERE id = $1`, f.convID).Scan(&ada)
	f.st.Pool.QueryRow(bg, `SELECT contact_id, id FROM conversations WHERE contact_id <> $1`, ada).Scan(&grace, &graceConv)
	f.st.Pool.QueryRow(bg, `SELECT id FROM api_tokens WHERE user_id = $1`, agent).Scan(&tokenID)
	rows, err := f.st.Pool.Query(bg, `SELECT kind, coalesce(user_id, 0), coalesce(contact_id, 0), coalesce(conversation_id, 0),
		message_id IS NOT NULL, coalesce(api_token_id, 0), coalesce(channel, ''), quantity FROM usage_events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var kind, channel string
		var user, contact, conv, token, qty int64
		var msg bool
		if err := rows.Scan(&kind, &user, &contact, &conv, &msg, &token, &channel, &qty); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s user=%d contact=%d conv=%d msg=%v token=%d channel=%s qty=%d", kind, user, contact, conv, msg, token, channel, qty))
	}
	want := []string{
		fmt.Sprintf("sign_in user=%d contact=0 conv=0 msg=false token=0 channel= qty=1", agent),
		fmt.Sprintf("api_call user=%d contact=0 conv=0 msg=false token=%d channel= qty=1", agent, tokenID),
		fmt.Sprintf("message_received user=0 contact=%d conv=%d msg=true token=0 channel=api qty=1", grace, graceConv),
		fmt.Sprintf("message_sent user=%d contact=%d conv=%d msg=true token=0 channel=api qty=1", agent, ada, f.convID),
		fmt.Sprintf("export user=%d contact=0 conv=0 msg=false token=0 channel= qty=2", admin),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("usage events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
