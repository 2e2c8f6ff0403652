package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// searchData adds people and messages the search tests look for.
type searchData struct {
	grace, evil, restricted *store.Contact
	conv, msg, note         int64
}

func seedSearch(t *testing.T, f *fixture) *searchData {
	t.Helper()
	d := &searchData{}
	var err error
	if d.grace, err = f.st.CreateContact(bg, nil, &store.Contact{Name: "Grace Hopper", Emails: []string{"grace@example.com"}, Phones: []string{"+4915112345678"}}); err != nil {
		t.Fatal(err)
	}
	if d.evil, err = f.st.CreateContact(bg, nil, &store.Contact{Name: `Hopeful <script>alert(1)</script>`}); err != nil {
		t.Fatal(err)
	}
	if d.restricted, err = f.st.CreateContact(bg, nil, &store.Contact{Name: "Hopkins Private", ProcessingRestricted: true}); err != nil {
		t.Fatal(err)
	}
	if d.conv, err = f.st.CreateConversation(bg, f.st.Pool, "api", d.grace.ID, "Compiler question"); err != nil {
		t.Fatal(err)
	}
	m, err := f.st.InsertMessage(bg, f.st.Pool, &store.Message{ConversationID: d.conv, Channel: "api", Direction: "incoming",
		Body: "The nanosecond wire is missing from my <b>parcel</b>, please refund"})
	if err != nil {
		t.Fatal(err)
	}
	d.msg = m.ID
	n, err := f.st.InsertMessage(bg, f.st.Pool, &store.Message{ConversationID: d.conv, Channel: "api", Direction: "note", Body: "Refund approved by finance"})
	if err != nil {
		t.Fatal(err)
	}
	d.note = n.ID
	return d
}

func searchBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSearchPage(t *testing.T) {
	f := newFixture(t)
	d := seedSearch(t, f)

	// A viewer searches a partial name: the contact, and their conversation.
	resp := f.do(auth.Viewer, http.MethodGet, "/search?q=hop", nil, false)
	page := searchBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("hopp: %d\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{
		`data-testid="search-contacts"`, fmt.Sprintf(`href="/contacts/%d"`, d.grace.ID), "Grace Hopper",
		`data-testid="search-conversations"`, fmt.Sprintf(`href="/inbox/conversations/%d?q=hop&amp;view=all"`, d.conv),
		// Restricted contacts are found and marked, as the contacts list shows them.
		"Hopkins Private", `<span class="badge">restricted</span>`,
		// Names are text.
		"Hopeful &lt;script&gt;alert(1)&lt;/script&gt;",
		// The top bar keeps what was searched.
		`id="topq" name="q" type="search" placeholder="Search…" maxlength="200" value="hop"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("hopp: the page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script>alert") {
		t.Error("hopp: a name was not escaped")
	}

	// Words of messages: a snippet with the matches marked, linking to the
	// message in its conversation; notes too.
	page = searchBody(t, f.do(auth.Viewer, http.MethodGet, "/search?q=refu", nil, false))
	for _, want := range []string{
		`data-testid="search-messages"`,
		fmt.Sprintf(`href="/inbox/conversations/%d?q=refu&amp;view=all#msg-%d"`, d.conv, d.msg),
		fmt.Sprintf(`#msg-%d"`, d.note), `<span class="badge">note</span>`,
		"my &lt;b&gt;parcel&lt;/b&gt;, please <mark>refu</mark>nd", "<mark>Refu</mark>nd approved",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("refu: the page lacks %s", want)
		}
	}
	if strings.Contains(page, `data-testid="search-contacts"`) {
		t.Error("refu: a contact group with nothing in it")
	}

	// Email and phone prefixes.
	for _, q := range []string{"grace@exa", "+4915", "+49 151 1234"} {
		page = searchBody(t, f.do(auth.Viewer, http.MethodGet, "/search?q="+url.QueryEscape(q), nil, false))
		if !strings.Contains(page, fmt.Sprintf(`href="/contacts/%d"`, d.grace.ID)) {
			t.Errorf("%s: Grace not found", q)
		}
	}

	// Nothing found says so.
	page = searchBody(t, f.do(auth.Viewer, http.MethodGet, "/search?q=zzyzx", nil, false))
	if !strings.Contains(page, `data-testid="search-empty"`) {
		t.Error("zzyzx: no empty state")
	}
	// No query: the form alone.
	resp = f.do(auth.Viewer, http.MethodGet, "/search", nil, false)
	if page = searchBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="search-input"`) {
		t.Errorf("no q: %d", resp.StatusCode)
	}

	// Bad input: 400, the message next to the field, what was typed kept.
	for _, tt := range []struct{ q, field, msg string }{
		{"x", "q", "at least 2 letters or digits"},
		{strings.Repeat("ab", 101), "q", "at most 200 characters"},
		{"a b c d e f g h i", "q", "at most 8 words"},
	} {
		resp = f.do(auth.Viewer, http.MethodGet, "/search?q="+url.QueryEscape(tt.q), nil, false)
		page = searchBody(t, resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `id="sq-error"`) || !strings.Contains(page, tt.msg) ||
			!strings.Contains(page, `value="`+tt.q+`"`) || !strings.Contains(page, `aria-invalid="true"`) {
			t.Errorf("q=%.20s: %d, want 400 with %q next to the field and the text kept", tt.q, resp.StatusCode, tt.msg)
		}
	}
	resp = f.do(auth.Viewer, http.MethodGet, "/search?q=hopp&group=everything", nil, false)
	if page = searchBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "group: want one of") {
		t.Errorf("bad group: %d", resp.StatusCode)
	}
	// Bytes that are not text are refused, not passed to PostgreSQL.
	resp = f.do(auth.Viewer, http.MethodGet, "/search?q=ab%FFcd", nil, false)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("invalid UTF-8: %d, want 400", resp.StatusCode)
	}
}

func TestSearchPageMoreLinks(t *testing.T) {
	f := newFixture(t)
	d := seedSearch(t, f)
	for i := 0; i < searchPageLimit+2; i++ {
		if _, err := f.st.InsertMessage(bg, f.st.Pool, &store.Message{ConversationID: d.conv, Channel: "api", Direction: "incoming", Body: fmt.Sprintf("refund number %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	page := searchBody(t, f.do(auth.Agent, http.MethodGet, "/search?q=refund", nil, false))
	if !strings.Contains(page, `href="/search?group=messages&amp;q=refund" data-testid="more-messages"`) {
		t.Fatalf("no link to more messages")
	}
	if n := strings.Count(page, "<mark>"); n != searchPageLimit {
		t.Errorf("%d marked messages, want %d", n, searchPageLimit)
	}
	// The group alone shows them all (9), with a way back.
	page = searchBody(t, f.do(auth.Agent, http.MethodGet, "/search?group=messages&q=refund", nil, false))
	if n := strings.Count(page, "data-message="); n != searchPageLimit+4 || !strings.Contains(page, `data-testid="search-all"`) {
		t.Errorf("messages group: %d messages, want %d, and a link to all groups", n, searchPageLimit+4)
	}
}

func TestSearchAPI(t *testing.T) {
	f := newFixture(t)
	d := seedSearch(t, f)
	get := func(path string) (int, map[string]json.RawMessage) {
		t.Helper()
		resp := f.api(auth.Viewer, http.MethodGet, path, "")
		var out map[string]json.RawMessage
		if err := json.Unmarshal([]byte(searchBody(t, resp)), &out); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return resp.StatusCode, out
	}
	status, out := get("/api/v1/search?q=hop")
	var res inbox.SearchResults
	b, _ := json.Marshal(out)
	_ = json.Unmarshal(b, &res)
	if status != http.StatusOK || len(res.Contacts) != 3 || len(res.Conversations) != 1 || res.Conversations[0].ID != d.conv ||
		len(res.Messages) != 0 || string(out["messages"]) != "[]" {
		t.Fatalf("hopp: %d %s", status, b)
	}
	if res.Contacts[0].ID != d.grace.ID || !res.Contacts[2].ProcessingRestricted {
		t.Errorf("hopp contacts, by name: %s", out["contacts"])
	}

	status, out = get("/api/v1/search?q=refu&group=messages&limit=1")
	b, _ = json.Marshal(out)
	res = inbox.SearchResults{}
	_ = json.Unmarshal(b, &res)
	if status != http.StatusOK || len(res.Messages) != 1 || res.Messages[0].ID != d.note || !res.More["messages"] ||
		len(res.Contacts) != 0 || res.Messages[0].ConversationID != d.conv || res.Messages[0].ContactName != "Grace Hopper" {
		t.Fatalf("refu, one message: %d %s", status, b)
	}
	if sn := res.Messages[0].Snippet; len(sn) != 2 || sn[0] != (store.SnippetPart{Text: "Refu", Hit: true}) || sn[1].Hit {
		t.Errorf("snippet = %+v", sn)
	}
	// The next page.
	_, out = get(fmt.Sprintf("/api/v1/search?q=refu&group=messages&limit=1&before=%d", d.note))
	b, _ = json.Marshal(out)
	res = inbox.SearchResults{}
	_ = json.Unmarshal(b, &res)
	if len(res.Messages) != 1 || res.Messages[0].ID != d.msg || res.More["messages"] {
		t.Errorf("refu, page 2: %s", b)
	}

	for _, tt := range []struct{ path, field string }{
		{"/api/v1/search", "q"},
		{"/api/v1/search?q=x", "q"},
		{"/api/v1/search?q=" + strings.Repeat("a", 201), "q"},
		{"/api/v1/search?q=%00ab", ""}, // refused before the handler, for every route
		{"/api/v1/search?q=hopp&limit=0", "limit"},
		{"/api/v1/search?q=hopp&limit=101", "limit"},
		{"/api/v1/search?q=hopp&group=deals", "group"},
		{"/api/v1/search?q=hopp&before=-1", "before"},
	} {
		resp := f.api(auth.Viewer, http.MethodGet, tt.path, "")
		var e struct {
			Error struct{ Code, Field, Message string }
		}
		_ = json.Unmarshal([]byte(searchBody(t, resp)), &e)
		if resp.StatusCode != http.StatusBadRequest || e.Error.Code != "invalid" || e.Error.Field != tt.field || e.Error.Message == "" {
			t.Errorf("%.60s: %d %+v, want 400 invalid about %s", tt.path, resp.StatusCode, e.Error, tt.field)
		}
	}
}

// The inbox list's q= filter matches as search does.
func TestSearchInboxListFilter(t *testing.T) {
	f := newFixture(t)
	d := seedSearch(t, f)
	for _, q := range []string{"hopp", "grace@exa", "+4915", "compil", "nanosec"} {
		page := searchBody(t, f.do(auth.Viewer, http.MethodGet, "/inbox?view=all&q="+url.QueryEscape(q), nil, false))
		if !strings.Contains(page, fmt.Sprintf(`id="conv-%d"`, d.conv)) {
			t.Errorf("inbox q=%s: the conversation is not listed", q)
		}
	}
	page := searchBody(t, f.do(auth.Viewer, http.MethodGet, "/inbox?view=all&q=opper", nil, false))
	if strings.Contains(page, fmt.Sprintf(`id="conv-%d"`, d.conv)) {
		t.Error("inbox q=opper: listed a conversation no word of which starts so")
	}
	resp := f.api(auth.Viewer, http.MethodGet, "/api/v1/conversations?view=all&q=hopp", "")
	if b := searchBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(b, fmt.Sprintf(`"id":%d`, d.conv)) {
		t.Errorf("API list q=hopp: %d %s", resp.StatusCode, b)
	}
}
