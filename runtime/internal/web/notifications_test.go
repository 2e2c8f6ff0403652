package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// sseEvents opens /events as role and sends the names of the events it
// hears on the returned channel.
func (f *fixture) sseEvents(role auth.Role) <-chan string {
	f.t.Helper()
	ctx, cancel := context.WithCancel(bg)
	f.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.ts.URL+"/events", nil)
	req.AddCookie(f.sessions[role])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("/events as %s: %d", role, resp.StatusCode)
	}
	out := make(chan string, 64)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				out <- name
			}
		}
	}()
	return out
}

// waitFor reads events until one named name arrives, or fails after d.
func waitFor(events <-chan string, name string, d time.Duration) bool {
	deadline := time.After(d)
	for {
		select {
		case e := <-events:
			if e == name {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

func respText(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMentionNotifiesLive writes a note from the page that mentions the
// viewer and the admin: the viewer's open /events hears "notifications"
// (the agent's, who wrote it, does not), the bell counts it on every page
// and in its fragment, the list shows it, opening it lands on the note's
// conversation and reads it, and marking all read empties the count.
func TestMentionNotifiesLive(t *testing.T) {
	f := newFixture(t)
	viewerEvents := f.sseEvents(auth.Viewer)
	agentEvents := f.sseEvents(auth.Agent)
	conv := fmt.Sprint(f.convID)
	// The streams are open once the note's own "list" event reaches them;
	// a first note makes sure they listen before the one under test.
	for !waitFor(viewerEvents, "list", 300*time.Millisecond) || !waitFor(agentEvents, "list", 300*time.Millisecond) {
		if resp := f.do(auth.Agent, "POST", "/inbox/conversations/"+conv+"/note", url.Values{"body": {"warming up"}}, false); resp.StatusCode >= 400 {
			t.Fatalf("note: %d", resp.StatusCode)
		}
	}

	resp := f.do(auth.Agent, "POST", "/inbox/conversations/"+conv+"/note",
		url.Values{"body": {"@Viewer and @admin, see this; @Agent is me. @Viewer again."}}, false)
	if resp.StatusCode >= 400 {
		t.Fatalf("note: %d %s", resp.StatusCode, respText(t, resp))
	}
	if !waitFor(viewerEvents, "notifications", 5*time.Second) {
		t.Error("the viewer's page did not hear of the mention")
	}
	if waitFor(agentEvents, "notifications", 500*time.Millisecond) {
		t.Error("the author's page heard a notification")
	}

	page := respText(t, f.do(auth.Viewer, "GET", "/contacts", nil, false))
	if !strings.Contains(page, `data-live="notifications"`) || !strings.Contains(page, `data-testid="bell-count">1<`) {
		t.Errorf("the viewer's top bar has no bell counting 1:\n%.2000s", page[strings.Index(page, "<header"):])
	}
	frag := respText(t, f.do(auth.Viewer, "GET", "/notifications/bell", nil, false))
	if strings.Contains(frag, "<html") || !strings.Contains(frag, `data-testid="bell-count">1<`) || !strings.Contains(frag, "Agent</strong> mentioned you") {
		t.Errorf("bell fragment:\n%s", frag)
	}
	if page := respText(t, f.do(auth.Agent, "GET", "/contacts", nil, false)); strings.Contains(page, `data-testid="bell-count"`) {
		t.Error("the author has an unread notification")
	}

	list, _ := f.st.Notifications(bg, f.users[auth.Viewer].ID, store.NotificationFilter{})
	if len(list) != 1 {
		t.Fatalf("the viewer has %d notifications, want 1", len(list))
	}
	n := list[0]
	html := respText(t, f.do(auth.Viewer, "GET", "/notifications", nil, false))
	if !strings.Contains(html, fmt.Sprintf(`href="/notifications/%d"`, n.ID)) || !strings.Contains(html, "Ada Lovelace") {
		t.Errorf("the list does not show the notification:\n%s", html)
	}
	// Another member cannot open it.
	if resp := f.do(auth.Admin, "GET", fmt.Sprintf("/notifications/%d", n.ID), nil, false); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the admin opened the viewer's notification: %d", resp.StatusCode)
	}
	resp = f.do(auth.Viewer, "GET", fmt.Sprintf("/notifications/%d", n.ID), nil, false)
	if want := fmt.Sprintf("/inbox/conversations/%d#msg-%d", f.convID, *n.MessageID); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		t.Errorf("opening it: %d to %q, want 303 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if c, _ := f.st.UnreadNotifications(bg, f.users[auth.Viewer].ID); c != 0 {
		t.Errorf("%d unread after opening it", c)
	}

	// Mark all read, from the admin's bell.
	resp = f.do(auth.Admin, "POST", "/notifications/read", url.Values{"all": {"1"}, "next": {"/contacts"}}, false)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/contacts" {
		t.Errorf("mark all read: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c, _ := f.st.UnreadNotifications(bg, f.users[auth.Admin].ID); c != 0 {
		t.Errorf("the admin has %d unread after marking all read", c)
	}
	resp = f.do(auth.Admin, "POST", "/notifications/read", url.Values{"next": {"https://evil.example/"}}, false)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("marking nothing read: %d", resp.StatusCode)
	}
	resp = f.do(auth.Admin, "POST", "/notifications/read", url.Values{"all": {"1"}, "next": {"https://evil.example/"}}, false)
	if loc := resp.Header.Get("Location"); loc != "/notifications" {
		t.Errorf("next outside the site: to %q", loc)
	}
}

// TestMembersForMentions serves the composer's autocomplete: members by
// word prefix with the handle to insert, email handles for a shared name.
func TestMembersForMentions(t *testing.T) {
	f := newFixture(t)
	for _, email := range []string{"sam1@acme.example", "sam2@acme.example"} {
		if _, err := f.st.CreateUser(bg, f.st.Pool, &store.User{Email: email, Name: "Sam Twin", Role: "agent", PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(prefix string) []map[string]any {
		t.Helper()
		resp := f.do(auth.Agent, "GET", "/inbox/members?prefix="+url.QueryEscape(prefix), nil, false)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("members %q: %d", prefix, resp.StatusCode)
		}
		var out []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := get("vie"); len(got) != 1 || got[0]["handle"] != "Viewer" || got[0]["role"] != "viewer" {
		t.Errorf("vie: %v", got)
	}
	got := get("twin")
	if len(got) != 2 || got[0]["handle"] != "sam1@acme.example" || got[1]["handle"] != "sam2@acme.example" {
		t.Errorf("twin: %v", got)
	}
	if got := get("zzz"); len(got) != 0 {
		t.Errorf("zzz: %v", got)
	}
	if got := get(""); len(got) != 6 {
		t.Errorf("no prefix: %d members, want 6", len(got))
	}
}

// TestNotificationsAPI mentions through the API and reads through it.
func TestNotificationsAPI(t *testing.T) {
	f := newFixture(t)
	conv := fmt.Sprint(f.convID)
	for _, text := range []string{"@Viewer first", "@viewer second, and @Nobody"} {
		if resp := f.api(auth.Agent, "POST", "/api/v1/conversations/"+conv+"/notes", fmt.Sprintf(`{"text":%q}`, text)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("note: %d %s", resp.StatusCode, respText(t, resp))
		}
	}
	type listing struct {
		Notifications []store.Notification
		Unread        int
	}
	list := func(role auth.Role, q string) listing {
		t.Helper()
		resp := f.api(role, "GET", "/api/v1/notifications"+q, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("list%s: %d %s", q, resp.StatusCode, respText(t, resp))
		}
		var l listing
		if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := list(auth.Viewer, "")
	if len(l.Notifications) != 2 || l.Unread != 2 || l.Notifications[0].Excerpt != "@viewer second, and @Nobody" ||
		l.Notifications[0].Kind != "mention" || l.Notifications[0].ActorName != "Agent" {
		t.Fatalf("viewer's notifications: %+v", l)
	}
	if l := list(auth.Agent, ""); len(l.Notifications) != 0 {
		t.Errorf("the author has notifications: %+v", l)
	}
	if l := list(auth.Viewer, "?limit=1"); len(l.Notifications) != 1 {
		t.Errorf("limit=1: %d", len(l.Notifications))
	}
	if l := list(auth.Viewer, fmt.Sprintf("?before=%d", l.Notifications[0].ID)); len(l.Notifications) != 1 || l.Notifications[0].Excerpt != "@Viewer first" {
		t.Errorf("before: %+v", l)
	}

	read := func(role auth.Role, b string) (int, map[string]any) {
		t.Helper()
		resp := f.api(role, "POST", "/api/v1/notifications/read", b)
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	// Another member's ids are ignored.
	if code, out := read(auth.Admin, fmt.Sprintf(`{"ids":[%d]}`, l.Notifications[0].ID)); code != 200 || out["marked"] != 0.0 {
		t.Errorf("the admin marking the viewer's: %d %v", code, out)
	}
	if code, out := read(auth.Viewer, fmt.Sprintf(`{"ids":[%d]}`, l.Notifications[1].ID)); code != 200 || out["marked"] != 1.0 || out["unread"] != 1.0 {
		t.Errorf("marking one: %d %v", code, out)
	}
	if l := list(auth.Viewer, "?unread=true"); len(l.Notifications) != 1 || l.Notifications[0].ID != l.Notifications[0].ID || l.Unread != 1 {
		t.Errorf("unread: %+v", l)
	}
	if code, out := read(auth.Viewer, `{"all":true}`); code != 200 || out["marked"] != 1.0 || out["unread"] != 0.0 {
		t.Errorf("marking all: %d %v", code, out)
	}
	for _, b := range []string{`{}`, `{"ids":[]}`, `{"ids":[-1]}`, `{"ids":"x"}`} {
		if code, out := read(auth.Viewer, b); code != 400 || out["error"] == nil {
			t.Errorf("read %s: %d %v", b, code, out)
		}
	}
	for _, q := range []string{"?unread=maybe", "?limit=0", "?limit=101", "?before=x"} {
		if resp := f.api(auth.Viewer, "GET", "/api/v1/notifications"+q, ""); resp.StatusCode != 400 {
			t.Errorf("GET %s: %d", q, resp.StatusCode)
		}
	}
}
