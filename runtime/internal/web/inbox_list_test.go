package web

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// formPost posts form as the app's own script does (X-Switchboard-Form),
// with a tz cookie when zone is set, and returns the status and body.
func (f *fixture) listPost(role auth.Role, path string, form url.Values, zone string) (int, string) {
	f.t.Helper()
	form.Set("csrf", f.csrf[role])
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Switchboard-Form", "1")
	req.Header.Set("Accept", "application/json")
	req.AddCookie(f.sessions[role])
	if zone != "" {
		req.AddCookie(&http.Cookie{Name: tzCookie, Value: zone})
	}
	resp, err := noRedirect().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f *fixture) listPage(role auth.Role, path string) string {
	f.t.Helper()
	resp := f.do(role, http.MethodGet, path, nil, false)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

// TestListLinksKeepTheView: Bug 2. The conversation links of a filtered
// list carry the filter as a query (not escaped into the path), and the
// conversation page lists that view: the same conversations, so j/k walk
// only them.
func TestListLinksKeepTheView(t *testing.T) {
	f := newFixture(t)
	agent := f.users[auth.Agent]
	var mine []int64
	for i := 0; i < 3; i++ {
		res, err := f.srv.Inbox.Ingest(bg, inbox.Inbound{Channel: "api", Identifier: fmt.Sprintf("+1555020%d", i), ContactName: fmt.Sprintf("Mine %d", i), ExternalID: fmt.Sprintf("m%d", i), Body: "billing question"})
		if err != nil {
			t.Fatal(err)
		}
		p := &agent.ID
		if _, err := f.srv.Inbox.Update(bg, agent.ID, res.Conversation.ID, storeChangeAssign(p)); err != nil {
			t.Fatal(err)
		}
		mine = append(mine, res.Conversation.ID)
	}
	list := f.listPage(auth.Agent, "/inbox?view=mine&q=billing")
	want := fmt.Sprintf(`href="/inbox/conversations/%d?q=billing&amp;status=open&amp;view=mine"`, mine[0])
	if !strings.Contains(list, want) {
		t.Fatalf("the list's link is not %s:\n%s", want, conversationLinks(list))
	}
	if strings.Contains(list, "%3d") || strings.Contains(list, "%3D") {
		t.Fatalf("a link escapes the query into the path:\n%s", conversationLinks(list))
	}
	conv := f.listPage(auth.Agent, fmt.Sprintf("/inbox/conversations/%d?q=billing&status=open&view=mine", mine[1]))
	links := conversationLinks(conv)
	if len(links) != 3 || strings.Contains(strings.Join(links, " "), fmt.Sprintf("/conversations/%d?", f.convID)) {
		t.Fatalf("the conversation page lists other conversations than the view's: %v", links)
	}
	if !regexp.MustCompile(`aria-current="page" data-view="mine"`).MatchString(conv) {
		t.Fatal("the conversation page does not show the Mine view as current")
	}
	// The list refreshes from the conversation's own page, keeping it selected.
	if !strings.Contains(conv, fmt.Sprintf(`/inbox/conversations/%d?q=billing&amp;status=open&amp;view=mine&amp;fragment=list`, mine[1])) {
		t.Fatal("the list's live source is not the conversation page's list")
	}
}

var linkRe = regexp.MustCompile(`href="(/inbox/conversations/[^"]*)"`)

func conversationLinks(page string) []string {
	var out []string
	for _, m := range linkRe.FindAllStringSubmatch(page, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// TestListRowsAndCounts: rows show unread, assignee, subject and channel;
// views count open conversations; All hides resolved ones until asked.
func TestListRowsAndCounts(t *testing.T) {
	f := newFixture(t)
	agent := f.users[auth.Agent]
	res, err := f.srv.Inbox.Ingest(bg, inbox.Inbound{Channel: "api", Identifier: "+15550300", ContactName: "Resolved Rita", ExternalID: "r1", Body: "done"})
	if err != nil {
		t.Fatal(err)
	}
	resolved := "resolved"
	if _, err := f.srv.Inbox.Update(bg, agent.ID, res.Conversation.ID, storeChangeStatus(resolved)); err != nil {
		t.Fatal(err)
	}
	p := &agent.ID
	if _, err := f.srv.Inbox.Update(bg, agent.ID, f.convID, storeChangeAssign(p)); err != nil {
		t.Fatal(err)
	}
	all := f.listPage(auth.Agent, "/inbox?view=all")
	if strings.Contains(all, "Resolved Rita") {
		t.Fatal("All shows a resolved conversation by default")
	}
	if !strings.Contains(f.listPage(auth.Agent, "/inbox?view=all&status=resolved"), "Resolved Rita") {
		t.Fatal("the resolved filter does not show it")
	}
	if !strings.Contains(f.listPage(auth.Agent, "/inbox?view=all&status=all"), "Resolved Rita") {
		t.Fatal("any status does not show it")
	}
	for _, want := range []string{`class="conv unread"`, `Assigned to Agent`, `>API<`, `data-view="mine">Mine <span class="count" title="open">1<`, `data-view="all">All <span class="count" title="open">1<`, `data-view="unassigned">Unassigned <span class="count" title="open">0<`} {
		if !strings.Contains(all, want) {
			t.Errorf("the list lacks %s", want)
		}
	}
	// Opening it reads it, for the agent only.
	conv := f.listPage(auth.Agent, fmt.Sprintf("/inbox/conversations/%d?view=all", f.convID))
	if strings.Contains(conv, `unread`) && regexp.MustCompile(`class="conv[^"]*unread`).MatchString(conv) {
		t.Fatal("an opened conversation is still unread")
	}
	if !regexp.MustCompile(`class="conv[^"]*unread`).MatchString(f.listPage(auth.Admin, "/inbox?view=all")) {
		t.Fatal("the agent's reading made it read for the admin")
	}
}

// TestConversationUpdateAppliesEachField posts each field alone, as the
// sidebar does when it is chosen, and reads the timeline's words.
func TestConversationUpdateAppliesEachField(t *testing.T) {
	f := newFixture(t)
	team, err := f.st.CreateTeam(bg, f.st.Pool, "Billing")
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/inbox/conversations/%d/update", f.convID)
	agent := f.users[auth.Agent]
	steps := []struct {
		form url.Values
		want string
	}{
		{url.Values{"assignee": {fmt.Sprint(f.users[auth.Admin].ID)}}, "Agent assigned it to Admin"},
		{url.Values{"assignee": {"me"}}, "Agent assigned it to Agent"},
		{url.Values{"assignee": {""}}, "Agent unassigned it"},
		{url.Values{"team": {fmt.Sprint(team.ID)}}, "Agent moved it to team Billing"},
		{url.Values{"priority": {"high"}}, "Agent set the priority to high"},
		{url.Values{"status": {"pending"}}, "Agent changed the status from open to pending"},
		{url.Values{"add_tags": {"#vip billing"}}, "Agent tagged #vip #billing"},
		{url.Values{"remove_tags": {"vip"}}, "Agent removed tag #vip"},
		{url.Values{"snooze": {"reply"}}, "Agent snoozed it until the customer replies"},
		{url.Values{"snooze": {"tomorrow"}}, "Agent snoozed it until"},
	}
	for _, s := range steps {
		if code, body := f.listPost(auth.Agent, path, s.form, ""); code != http.StatusOK || !strings.Contains(body, `"ok":true`) {
			t.Fatalf("%v: %d %s", s.form, code, body)
		}
		page := f.listPage(auth.Agent, fmt.Sprintf("/inbox/conversations/%d", f.convID))
		if !strings.Contains(html.UnescapeString(page), s.want) {
			t.Fatalf("after %v the timeline does not say %q", s.form, s.want)
		}
	}
	c, _ := f.st.ConversationByID(bg, nil, f.convID)
	if c.AssigneeID != nil || c.TeamID == nil || *c.TeamID != team.ID || c.Priority != "high" || strings.Join(c.Tags, ",") != "billing" || c.Status != "snoozed" || c.SnoozedUntil == nil {
		t.Fatalf("the conversation is %+v", c)
	}
	_ = agent

	// Refused inline: each names its field.
	for _, bad := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"snooze_until": {"2020-01-01T09:00"}}, "snooze_until"},
		{url.Values{"status": {"snoozed"}}, "snooze_until"},
		{url.Values{"snooze_until": {"tomorrow-ish"}}, "snooze_until"},
		{url.Values{"snooze": {"someday"}}, "snooze"},
		{url.Values{"priority": {"extreme"}}, "priority"},
		{url.Values{"assignee": {"x"}}, "assignee"},
		{url.Values{"add_tags": {strings.Repeat("t", 65)}}, "add_tags"},
	} {
		code, body := f.listPost(auth.Agent, path, bad.form, "")
		var e struct {
			Error struct{ Code, Field, Message string }
		}
		_ = json.Unmarshal([]byte(body), &e)
		if code != http.StatusBadRequest || e.Error.Field != bad.field || e.Error.Code != "invalid" {
			t.Errorf("%v: %d %s, want 400 about %s", bad.form, code, body, bad.field)
		}
	}
}

// TestSnoozeIsReadInTheMembersZone: Bug 6. A Berlin member's 09:00 is
// 08:00 UTC in winter; the timeline shows it back in Berlin time.
func TestSnoozeIsReadInTheMembersZone(t *testing.T) {
	f := newFixture(t)
	year := time.Now().Year() + 1
	path := fmt.Sprintf("/inbox/conversations/%d/update", f.convID)
	if code, body := f.listPost(auth.Agent, path, url.Values{"snooze_until": {fmt.Sprintf("%d-01-15T09:00", year)}}, "Europe/Berlin"); code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	c, _ := f.st.ConversationByID(bg, nil, f.convID)
	if want := time.Date(year, 1, 15, 8, 0, 0, 0, time.UTC); c.Status != "snoozed" || c.SnoozedUntil == nil || !c.SnoozedUntil.Equal(want) {
		t.Fatalf("stored %v %v, want %v", c.Status, c.SnoozedUntil, want)
	}
}

// TestSnoozePresets computes the presets in the member's zone.
func TestSnoozePresets(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	wed := time.Date(2026, 12, 2, 10, 0, 0, 0, berlin) // a Wednesday
	for _, c := range []struct {
		key  string
		now  time.Time
		want time.Time
	}{
		{"later", wed, time.Date(2026, 12, 2, 13, 0, 0, 0, berlin)},
		{"later", wed.Add(6 * time.Hour), time.Date(2026, 12, 2, 18, 0, 0, 0, berlin)},
		{"tomorrow", wed, time.Date(2026, 12, 3, 9, 0, 0, 0, berlin)},
		{"nextweek", wed, time.Date(2026, 12, 7, 9, 0, 0, 0, berlin)},
		{"nextweek", time.Date(2026, 12, 7, 8, 0, 0, 0, berlin), time.Date(2026, 12, 14, 9, 0, 0, 0, berlin)},
	} {
		got, ok := snoozePreset(c.key, c.now)
		if !ok || !got.Equal(c.want) {
			t.Errorf("%s at %v: %v, want %v", c.key, c.now, got, c.want)
		}
	}
	if _, ok := snoozePreset("never", wed); ok {
		t.Error("an unknown preset was taken")
	}
}

func storeChangeAssign(p *int64) store.ConversationChange {
	return store.ConversationChange{AssigneeID: &p}
}
func storeChangeStatus(s string) store.ConversationChange {
	return store.ConversationChange{Status: &s}
}
