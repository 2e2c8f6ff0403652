package web

import (
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

// settingsPost posts a form as the app's script does, and returns the status
// and the JSON answer (an error naming a field, or the redirect).
func (f *fixture) settingsPost(role auth.Role, path string, form url.Values) (int, map[string]any) {
	f.t.Helper()
	form.Set("csrf", f.csrf[role])
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Switchboard-Form", "1")
	req.AddCookie(f.sessions[role])
	resp, err := noRedirect().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func settingsErrField(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["field"].(string)
	return s
}

func (f *fixture) settingsGet(role auth.Role, path string) (int, string) {
	f.t.Helper()
	resp := f.do(role, http.MethodGet, path, nil, false)
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSettingsSections(t *testing.T) {
	f := newFixture(t)
	resp := f.do(auth.Viewer, http.MethodGet, "/settings", nil, false)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings/profile" {
		t.Fatalf("/settings: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, p := range []string{"/settings/profile", "/settings/team", "/settings/api", "/settings/security"} {
		code, page := f.settingsGet(auth.Viewer, p)
		if code != http.StatusOK || !strings.Contains(page, `class="subnav"`) || !strings.Contains(page, `href="`+p+`" aria-current="page"`) {
			t.Errorf("%s as viewer: %d, or no sub-nav marking it", p, code)
		}
		if strings.Contains(page, `href="/settings/channels"`) {
			t.Errorf("%s offers a viewer the channels section", p)
		}
	}
	if code, _ := f.settingsGet(auth.Agent, "/settings/channels"); code != http.StatusForbidden {
		t.Errorf("channels as agent: %d", code)
	}
	code, page := f.settingsGet(auth.Admin, "/settings/channels")
	if code != http.StatusOK || !strings.Contains(page, `id="webhook"`) || !strings.Contains(page, `data-testid="integrations"`) ||
		!strings.Contains(page, "show the signing secret again") {
		t.Errorf("channels as admin: %d", code)
	}
	// Agents see the team but cannot manage it.
	_, page = f.settingsGet(auth.Agent, "/settings/team")
	for _, no := range []string{`id="invite-email"`, `id="team-name"`, `id="c-short"`, `/disable"`} {
		if strings.Contains(page, no) {
			t.Errorf("the team page offers an agent %s", no)
		}
	}
	if !strings.Contains(page, "Admin") || !strings.Contains(page, "owner@acme.example") {
		t.Error("the team page does not list the members")
	}
	for _, p := range []string{"/settings/teams", "/settings/invites/1/resend", "/settings/invites/1/revoke", "/settings/canned/1"} {
		if code, _ := f.settingsPost(auth.Agent, p, url.Values{"name": {"x"}}); code != http.StatusForbidden {
			t.Errorf("agent POST %s: %d, want 403", p, code)
		}
	}
	// Security: this browser and the others; sign out the others.
	f2 := *f.sessions[auth.Agent]
	f.freshSession(auth.Agent)
	_, page = f.settingsGet(auth.Agent, "/settings/security")
	if strings.Count(page, "This browser") != 1 || strings.Count(page, "Another browser") != 1 || !strings.Contains(page, `data-testid="retention"`) {
		t.Errorf("the security page does not list both sessions:\n%s", page)
	}
	if code, out := f.settingsPost(auth.Agent, "/settings/security/sessions/end-others", url.Values{}); code != http.StatusOK || out["redirect"] != "/settings/security" {
		t.Fatalf("end others: %d %v", code, out)
	}
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/settings/profile", nil)
	req.AddCookie(&f2)
	if r, _ := noRedirect().Do(req); r.StatusCode != http.StatusSeeOther {
		t.Errorf("the other session still works: %d", r.StatusCode)
	}
	if code, _ := f.settingsGet(auth.Agent, "/settings/profile"); code != http.StatusOK {
		t.Errorf("this session was ended too: %d", code)
	}
}

// A member edits only their own profile: the route has no member id.
func TestProfileUpdate(t *testing.T) {
	f := newFixture(t)
	if code, out := f.settingsPost(auth.Agent, "/settings/profile", url.Values{"name": {""}, "time_zone": {""}}); code != http.StatusBadRequest || settingsErrField(out) != "name" {
		t.Errorf("empty name: %d %v", code, out)
	}
	if code, out := f.settingsPost(auth.Agent, "/settings/profile", url.Values{"name": {"Al"}, "time_zone": {"Mars/Olympus"}}); code != http.StatusBadRequest || settingsErrField(out) != "time_zone" {
		t.Errorf("bad zone: %d %v", code, out)
	}
	if code, out := f.settingsPost(auth.Agent, "/settings/profile", url.Values{"name": {"Al Agent"}, "time_zone": {"Europe/Berlin"}, "id": {fmt.Sprint(f.users[auth.Owner].ID)}}); code != http.StatusOK || out["redirect"] != "/settings/profile" {
		t.Fatalf("save: %d %v", code, out)
	}
	u, _ := f.srv.Users.ByID(bg, f.users[auth.Agent].ID)
	if u.Name != "Al Agent" || u.TimeZone != "Europe/Berlin" {
		t.Errorf("saved %q %q", u.Name, u.TimeZone)
	}
	if o, _ := f.srv.Users.ByID(bg, f.users[auth.Owner].ID); o.Name != "Owner" || o.TimeZone != "" {
		t.Errorf("another member's profile changed: %+v", o)
	}
	_, page := f.settingsGet(auth.Agent, "/settings/profile")
	if !strings.Contains(page, "<option selected>Europe/Berlin</option>") || !strings.Contains(page, "Profile saved.") {
		t.Error("the profile page does not show the chosen zone and the notice")
	}
	// Back to the browser's zone.
	if code, _ := f.settingsPost(auth.Agent, "/settings/profile", url.Values{"name": {"Al Agent"}, "time_zone": {""}}); code != http.StatusOK {
		t.Fatal(code)
	}
	if u, _ := f.srv.Users.ByID(bg, f.users[auth.Agent].ID); u.TimeZone != "" {
		t.Errorf("zone %q, want none", u.TimeZone)
	}
}

func TestTeamPages(t *testing.T) {
	f := newFixture(t)
	if code, out := f.settingsPost(auth.Admin, "/settings/teams", url.Values{"name": {"Billing"}}); code != http.StatusOK || out["redirect"] != "/settings/team" {
		t.Fatalf("create: %d %v", code, out)
	}
	if code, out := f.settingsPost(auth.Admin, "/settings/teams", url.Values{"name": {"Billing"}}); code != http.StatusConflict || settingsErrField(out) != "name" {
		t.Errorf("duplicate: %d %v, want 409 naming the field", code, out)
	}
	teams, _ := f.srv.Teams.List(bg)
	id := teams[0].ID
	path := fmt.Sprintf("/settings/teams/%d", id)
	if code, out := f.settingsPost(auth.Admin, path+"/members", url.Values{"user": {fmt.Sprint(f.users[auth.Agent].ID)}}); code != http.StatusOK || out["redirect"] != path {
		t.Fatalf("add: %d %v", code, out)
	}
	code, page := f.settingsGet(auth.Viewer, path)
	if code != http.StatusOK || !strings.Contains(page, "Agent") || strings.Contains(page, `name="remove"`) {
		t.Errorf("team page as viewer: %d, or it offers removal", code)
	}
	_, page = f.settingsGet(auth.Admin, path)
	if !strings.Contains(page, `aria-label="Remove Agent from Billing"`) {
		t.Error("the admin cannot remove the member")
	}
	if code, _ := f.settingsPost(auth.Admin, path+"/members", url.Values{"user": {fmt.Sprint(f.users[auth.Agent].ID)}, "remove": {"1"}}); code != http.StatusOK {
		t.Fatal(code)
	}
	if tm, _ := f.srv.Teams.ByID(bg, id); len(tm.Members) != 0 {
		t.Errorf("members after removal %v", tm.Members)
	}
	if code, _ := f.settingsGet(auth.Admin, "/settings/teams/424242"); code != http.StatusNotFound {
		t.Errorf("no such team: %d", code)
	}
	if code, _ := f.settingsPost(auth.Admin, "/settings/teams/424242/members", url.Values{"user": {"1"}}); code != http.StatusNotFound {
		t.Errorf("member of no such team: %d", code)
	}
}

func TestInviteResendRevoke(t *testing.T) {
	f := newFixture(t)
	inv, old, err := f.srv.Invites.Create(bg, f.users[auth.Admin].ID, "new@acme.example", auth.Agent, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	_, page := f.settingsGet(auth.Admin, "/settings/team")
	if !strings.Contains(page, fmt.Sprintf(`/settings/invites/%d/resend`, inv.ID)) || !strings.Contains(page, "cannot be copied again") {
		t.Error("the pending invite cannot be resent, or the page does not say why")
	}
	if code, out := f.settingsPost(auth.Admin, fmt.Sprintf("/settings/invites/%d/resend", inv.ID), url.Values{}); code != http.StatusOK || out["redirect"] != "/settings/team" {
		t.Fatalf("resend: %d %v", code, out)
	}
	if _, err := f.srv.Invites.ByToken(bg, old); err == nil {
		t.Error("the old link still works")
	}
	_, page = f.settingsGet(auth.Admin, "/settings/team")
	if !strings.Contains(page, "the previous link no longer works") || !strings.Contains(page, "http://acme.test/invite/") {
		t.Error("the new link is not shown once")
	}
	if code, _ := f.settingsPost(auth.Admin, fmt.Sprintf("/settings/invites/%d/revoke", inv.ID), url.Values{}); code != http.StatusOK {
		t.Fatal(code)
	}
	if p, _ := f.srv.Invites.Pending(bg); len(p) != 0 {
		t.Errorf("pending after revoke: %d", len(p))
	}
	if code, _ := f.settingsPost(auth.Admin, fmt.Sprintf("/settings/invites/%d/resend", inv.ID), url.Values{}); code != http.StatusNotFound {
		t.Errorf("resend a revoked invite: %d", code)
	}
}

func TestCannedEdit(t *testing.T) {
	f := newFixture(t)
	for _, s := range []string{"thanks", "bye"} {
		if code, out := f.settingsPost(auth.Admin, "/settings/canned", url.Values{"shortcut": {s}, "title": {s}, "body": {s + "!"}}); code != http.StatusOK {
			t.Fatalf("create %s: %d %v", s, code, out)
		}
	}
	if code, out := f.settingsPost(auth.Admin, "/settings/canned", url.Values{"shortcut": {"Bad Name"}, "title": {"x"}, "body": {"x"}}); code != http.StatusBadRequest || settingsErrField(out) != "shortcut" {
		t.Errorf("bad shortcut: %d %v", code, out)
	}
	list, _ := f.srv.Canned.List(bg, "thanks")
	path := fmt.Sprintf("/settings/canned/%d", list[0].ID)
	code, page := f.settingsGet(auth.Admin, path)
	if code != http.StatusOK || !strings.Contains(page, `pattern="[a-z0-9][a-z0-9_\-]{0,31}"`) || !strings.Contains(page, "thanks!</textarea>") {
		t.Fatalf("edit page: %d\n%s", code, page)
	}
	if code, out := f.settingsPost(auth.Admin, path, url.Values{"shortcut": {"bye"}, "title": {"T"}, "body": {"B"}}); code != http.StatusConflict || settingsErrField(out) != "shortcut" {
		t.Errorf("taken shortcut: %d %v", code, out)
	}
	if code, out := f.settingsPost(auth.Admin, path, url.Values{"shortcut": {"thank-you"}, "title": {"Thank you"}, "body": {"Thanks a lot"}}); code != http.StatusOK || out["redirect"] != "/settings/team" {
		t.Fatalf("save: %d %v", code, out)
	}
	c, _ := f.srv.Canned.ByID(bg, list[0].ID)
	if c.Shortcut != "thank-you" || c.Title != "Thank you" || c.Body != "Thanks a lot" {
		t.Errorf("saved %+v", c)
	}
	if code, _ := f.settingsGet(auth.Agent, path); code != http.StatusForbidden {
		t.Errorf("agent edit page: %d", code)
	}
}

func TestAuditWordsLinksPaging(t *testing.T) {
	f := newFixture(t)
	if _, err := f.srv.Teams.Create(bg, f.users[auth.Admin].ID, "Billing"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 55; i++ {
		if err := f.st.Audit(bg, nil, nil, "system", "test.filler", "contact", int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	_, page := f.settingsGet(auth.Owner, "/audit?q="+url.QueryEscape("team created admin"))
	if !strings.Contains(page, "team.created") || strings.Contains(page, "test.filler") || !strings.Contains(page, `href="/settings/teams/`) {
		t.Errorf("words: %s", page)
	}
	if _, page = f.settingsGet(auth.Owner, "/audit?q=message+received"); !strings.Contains(page, fmt.Sprintf(`href="/inbox/conversations/%d"`, f.convID)) {
		t.Error("a message's entry does not link to its conversation")
	}
	if _, page = f.settingsGet(auth.Owner, "/audit?q=nobody+xyz"); !strings.Contains(page, "Nothing matches.") {
		t.Error("a search matching nothing shows entries")
	}
	_, page = f.settingsGet(auth.Owner, "/audit?q=filler")
	if n := strings.Count(page, "test.filler"); n != 50 {
		t.Errorf("first page has %d entries, want 50", n)
	}
	if !strings.Contains(page, `href="/contacts/55"`) || !strings.Contains(page, `rel="next"`) {
		t.Fatal("no object links or no next page")
	}
	i := strings.Index(page, `href="/audit?`)
	next := strings.ReplaceAll(page[i+6:strings.Index(page[i+6:], `"`)+i+6], "&amp;", "&")
	_, page = f.settingsGet(auth.Owner, next)
	if n := strings.Count(page, "test.filler"); n != 5 || strings.Contains(page, `rel="next"`) || !strings.Contains(page, "Newest entries") {
		t.Errorf("second page (%s) has %d entries", next, n)
	}
	var entries []*store.AuditEntry
	if entries, _ = f.srv.Audit.Log(bg, store.AuditFilter{Query: "Billing"}); len(entries) != 0 {
		t.Error("a team's name is not in the audit log, yet matched")
	}
}
