package store_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

// searchFixture is a workspace with people whose names, emails, phones,
// subjects and messages differ in the ways search must tell apart.
type searchFixture struct {
	st                                *store.Store
	grace, ada, chopper, restricted   *store.Contact
	graceConv, adaConv, chopperConv   int64
	refundMsg, emailMsg, noteMsg, hyp int64
}

func newSearchFixture(t *testing.T) *searchFixture {
	t.Helper()
	st := storetest.NewDB(t)
	f := &searchFixture{st: st}
	f.grace = mustContact(t, st, &store.Contact{Name: "Grace Hopper", Emails: []string{"grace@example.com"}, Phones: []string{"+4915112345678"}})
	f.ada = mustContact(t, st, &store.Contact{Name: "Ada Lovelace", Emails: []string{"countess@analytical.example"}, Phones: []string{"+442079460000"}})
	// "hopp" and "grace" are inside this contact's words, never at a start.
	f.chopper = mustContact(t, st, &store.Contact{Name: "Mark Chopper", Emails: []string{"disgrace@mail.example"}, Phones: []string{"+3349151123"}})
	f.restricted = mustContact(t, st, &store.Contact{Name: "Hopkins Restricted", ProcessingRestricted: true})

	conv := func(c *store.Contact, subject string) int64 {
		id, err := st.CreateConversation(ctx, st.Pool, "api", c.ID, subject)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	msg := func(conv int64, direction, body string) int64 {
		m, err := st.InsertMessage(ctx, st.Pool, &store.Message{ConversationID: conv, Channel: "api", Direction: direction, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	f.graceConv = conv(f.grace, "Compiler question")
	f.adaConv = conv(f.ada, "Invoice overdue")
	f.chopperConv = conv(f.chopper, "Shipping")
	f.refundMsg = msg(f.adaConv, "incoming", "Please refund order 4711, it arrived broken.")
	f.emailMsg = msg(f.chopperConv, "incoming", "Write to grace@example.com about it")
	f.noteMsg = msg(f.graceConv, "note", "Internal: she prefers the phone")
	f.hyp = msg(f.chopperConv, "outgoing", "A well-known re-delivery")
	return f
}

func (f *searchFixture) parse(t *testing.T, q string) *store.SearchQuery {
	t.Helper()
	sq, err := f.st.ParseSearch(ctx, q)
	if err != nil {
		t.Fatalf("ParseSearch(%q): %v", q, err)
	}
	return sq
}

func TestSearchMatching(t *testing.T) {
	f := newSearchFixture(t)
	tests := []struct {
		q             string
		contacts      []int64 // by name
		conversations []int64 // newest activity first
		messages      []int64 // newest first
	}{
		// Prefixes of names, any word, any case, in any order.
		{"hopp", []int64{f.grace.ID}, []int64{f.graceConv}, nil},
		{"HoPpEr", []int64{f.grace.ID}, []int64{f.graceConv}, nil},
		{"lovelace ad", []int64{f.ada.ID}, []int64{f.adaConv}, nil},
		{"hop", []int64{f.grace.ID, f.restricted.ID}, []int64{f.graceConv}, nil},
		// Not inside a word: Chopper, disgrace.
		{"opper", nil, nil, nil},
		{"race", nil, nil, nil},
		// Emails: the start, or a word of them.
		{"grace@exa", []int64{f.grace.ID}, []int64{f.graceConv}, []int64{f.emailMsg}},
		{"analytical", []int64{f.ada.ID}, []int64{f.adaConv}, nil},
		{"countess@analytical.example", []int64{f.ada.ID}, []int64{f.adaConv}, nil},
		{"countess@other", nil, nil, nil},
		// Phones: with or without +, typed in groups; not from the middle.
		{"+4915", []int64{f.grace.ID}, []int64{f.graceConv}, nil},
		{"49151123", []int64{f.grace.ID}, []int64{f.graceConv}, nil},
		{"+49 151 123-45", []int64{f.grace.ID}, []int64{f.graceConv}, nil},
		{"5112345", nil, nil, nil},
		// Subjects.
		{"invo", []int64{}, []int64{f.adaConv}, nil},
		{"voice", nil, nil, nil},
		// Message text, prefixes of words, notes included.
		{"refu", nil, nil, []int64{f.refundMsg}},
		{"ord 47", nil, nil, []int64{f.refundMsg}},
		{`"refund order"`, nil, nil, []int64{f.refundMsg}},
		{"efund", nil, nil, nil},
		{"refund shipping", nil, nil, nil},
		{"prefers", nil, nil, []int64{f.noteMsg}},
		{"re-deliv", nil, nil, []int64{f.hyp}},
		{"deliv", nil, nil, []int64{f.hyp}},
		{"nobody", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			q := f.parse(t, tt.q)
			contacts, _, err := f.st.SearchContacts(ctx, q, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(contacts, func(c *store.Contact) int64 { return c.ID }); fmt.Sprint(got) != fmt.Sprint(tt.contacts) {
				t.Errorf("contacts = %v, want %v", got, tt.contacts)
			}
			convs, _, err := f.st.SearchConversations(ctx, q, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(convs, func(c *store.Conversation) int64 { return c.ID }); fmt.Sprint(got) != fmt.Sprint(tt.conversations) {
				t.Errorf("conversations = %v, want %v", got, tt.conversations)
			}
			msgs, _, err := f.st.SearchMessages(ctx, q, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(msgs, func(m *store.MessageHit) int64 { return m.ID }); fmt.Sprint(got) != fmt.Sprint(tt.messages) {
				t.Errorf("messages = %v, want %v", got, tt.messages)
			}
		})
	}
}

func TestSearchRestrictedContactIsFoundAndMarked(t *testing.T) {
	f := newSearchFixture(t)
	contacts, _, err := f.st.SearchContacts(ctx, f.parse(t, "hopkins"), 10)
	if err != nil || len(contacts) != 1 || !contacts[0].ProcessingRestricted {
		t.Fatalf("got %+v, %v; want the restricted contact, marked", contacts, err)
	}
}

// The inbox list's q= filter: subject, contact or message text.
func TestSearchInboxFilter(t *testing.T) {
	f := newSearchFixture(t)
	for _, tt := range []struct {
		q    string
		want []int64
	}{
		{"hopp", []int64{f.graceConv}},
		{"+4915", []int64{f.graceConv}},
		{"invo", []int64{f.adaConv}},
		{"refu", []int64{f.adaConv}},
		{"grace@exa", []int64{f.chopperConv, f.graceConv}}, // a message mentions her; she is the contact
		{"race", nil},
	} {
		t.Run(tt.q, func(t *testing.T) {
			got, err := f.st.Conversations(ctx, store.View{Search: tt.q})
			if err != nil {
				t.Fatal(err)
			}
			ids := ids(got, func(c *store.Conversation) int64 { return c.ID })
			slices.Sort(ids)
			slices.Sort(tt.want)
			if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", ids, tt.want)
			}
		})
	}
	if _, err := f.st.Conversations(ctx, store.View{Search: "x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a one-letter filter: %v, want ErrInvalid", err)
	}
}

func TestSearchLimitsAndPaging(t *testing.T) {
	f := newSearchFixture(t)
	for i := 0; i < 3; i++ {
		mustContact(t, f.st, &store.Contact{Name: fmt.Sprintf("Hopper Clone %d", i)})
		if _, err := f.st.InsertMessage(ctx, f.st.Pool, &store.Message{ConversationID: f.adaConv, Channel: "api", Direction: "incoming", Body: fmt.Sprintf("refund %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	q := f.parse(t, "hopper")
	contacts, more, err := f.st.SearchContacts(ctx, q, 2)
	if err != nil || len(contacts) != 2 || !more {
		t.Errorf("contacts: %d, more %v, %v; want 2 and more", len(contacts), more, err)
	}
	contacts, more, _ = f.st.SearchContacts(ctx, q, 4)
	if len(contacts) != 4 || more {
		t.Errorf("contacts: %d, more %v; want all 4 and no more", len(contacts), more)
	}
	q = f.parse(t, "refund")
	page1, more, err := f.st.SearchMessages(ctx, q, 0, 3)
	if err != nil || len(page1) != 3 || !more {
		t.Fatalf("messages: %d, more %v, %v", len(page1), more, err)
	}
	page2, more, _ := f.st.SearchMessages(ctx, q, page1[2].ID, 3)
	if len(page2) != 1 || more || page2[0].ID != f.refundMsg {
		t.Errorf("second page: %+v, more %v; want the first refund message only", page2, more)
	}
}

func TestSearchRefusesBadInput(t *testing.T) {
	st := storetest.NewDB(t)
	for _, q := range []string{"", "   ", "x", "!!", "-+", strings.Repeat("a", store.MaxSearchLength+1),
		"a b c d e f g h i", "ab\x00cd", "ab\xffcd"} {
		_, err := st.ParseSearch(ctx, q)
		var se *store.SearchError
		if !errors.As(err, &se) || !errors.Is(err, store.ErrInvalid) || !strings.HasPrefix(err.Error(), "q: ") {
			t.Errorf("ParseSearch(%q) = %v, want a SearchError about q", q, err)
		}
	}
	// Characters that mean something to tsquery or to regular
	// expressions are text.
	for _, q := range []string{`a'b`, `a\b`, `(a|b)*`, `'x':* & !y`, `[[:alpha:]]`, `100%_`, `ü ß`} {
		sq, err := st.ParseSearch(ctx, q)
		if err != nil {
			t.Errorf("ParseSearch(%q): %v", q, err)
			continue
		}
		if _, _, err := st.SearchContacts(ctx, sq, 5); err != nil {
			t.Errorf("contacts %q: %v", q, err)
		}
		if _, _, err := st.SearchConversations(ctx, sq, 5); err != nil {
			t.Errorf("conversations %q: %v", q, err)
		}
		if _, _, err := st.SearchMessages(ctx, sq, 0, 5); err != nil {
			t.Errorf("messages %q: %v", q, err)
		}
	}
}

func TestSnippet(t *testing.T) {
	render := func(parts []store.SnippetPart) string {
		var b strings.Builder
		for _, p := range parts {
			if p.Hit {
				b.WriteString("[" + p.Text + "]")
			} else {
				b.WriteString(p.Text)
			}
		}
		return b.String()
	}
	for _, tt := range []struct {
		text  string
		words []string
		n     int
		want  string
	}{
		{"Please refund order 4711", []string{"ref", "47"}, 100, "Please [ref]und order [47]11"},
		{"Chopper is no hopper", []string{"hopp"}, 100, "Chopper is no [hopp]er"},
		{"REFUND  now\n\nplease", []string{"refund"}, 100, "[REFUND] now please"},
		{strings.Repeat("word ", 40) + "refund here " + strings.Repeat("tail ", 40), []string{"refund"}, 40,
			"…word word [refund] here tail tail tail…"},
		{"nothing matches", []string{"zz"}, 100, "nothing matches"},
	} {
		if got := render(store.Snippet(tt.text, tt.words, tt.n)); got != tt.want {
			t.Errorf("Snippet(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

// A search reads the newest messages one by one and turns to the full-text
// index for older ones only when those held too few matches: both ways
// must find the same messages.
func TestSearchBeyondTheNewestMessages(t *testing.T) {
	f := newSearchFixture(t)
	old := f.refundMsg // "Please refund order 4711, ..." is older than all that follows
	if _, err := f.st.Pool.Exec(ctx, `INSERT INTO messages (conversation_id, channel, direction, body)
		SELECT $1, 'api', 'incoming', 'filler number ' || g || CASE WHEN g % 1000 = 0 THEN ' refund' ELSE '' END
		FROM generate_series(1, 7000) g`, f.graceConv); err != nil {
		t.Fatal(err)
	}
	// Rare beyond the window: only the index finds it.
	msgs, more, err := f.st.SearchMessages(ctx, f.parse(t, "broke"), 0, 5)
	if err != nil || len(msgs) != 1 || msgs[0].ID != old || more {
		t.Fatalf("broke: %v, more %v, %v; want the old message", ids(msgs, func(m *store.MessageHit) int64 { return m.ID }), more, err)
	}
	// Some in the window, the rest by the index, newest first.
	msgs, more, err = f.st.SearchMessages(ctx, f.parse(t, "refund"), 0, 10)
	if err != nil || len(msgs) != 8 || more || msgs[7].ID != old {
		t.Fatalf("refund: %d messages, more %v, %v; want 7 fillers and the old one", len(msgs), more, err)
	}
	for i := 1; i < len(msgs); i++ {
		if msgs[i].ID >= msgs[i-1].ID {
			t.Fatalf("refund: not newest first: %v", ids(msgs, func(m *store.MessageHit) int64 { return m.ID }))
		}
	}
	// Common: the window has them.
	msgs, more, _ = f.st.SearchMessages(ctx, f.parse(t, "fill"), 0, 3)
	if len(msgs) != 3 || !more {
		t.Errorf("fill: %d, more %v", len(msgs), more)
	}
	// The inbox filter finds the conversation of the old message too.
	convs, err := f.st.Conversations(ctx, store.View{Search: "broke"})
	if err != nil || len(convs) != 1 || convs[0].ID != f.adaConv {
		t.Errorf("inbox broke: %v, %v", ids(convs, func(c *store.Conversation) int64 { return c.ID }), err)
	}
}

// The operator's workspace role owns its database and is no superuser:
// it must be able to apply migration 00014 (CREATE EXTENSION pg_trgm, a
// trusted extension) and search.
func TestSearchMigratesAsTheWorkspaceRole(t *testing.T) {
	pg := storetest.Server(t)
	admin, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	name := fmt.Sprintf("tenant_search_%d", time.Now().UnixNano())
	role := pgx.Identifier{name}.Sanitize()
	for _, stmt := range []string{
		"CREATE ROLE " + role + " LOGIN PASSWORD 'tenant-pass' NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS",
		"CREATE DATABASE " + role + " OWNER " + role + " ENCODING 'UTF8' TEMPLATE template0",
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(ctx, pg.DSN(name, "tenant-pass", name), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrating as the workspace's role: %v", err)
	}
	c := mustContact(t, st, &store.Contact{Name: "Grace Hopper"})
	sq, err := st.ParseSearch(ctx, "hopp")
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := st.SearchContacts(ctx, sq, 5)
	if err != nil || len(got) != 1 || got[0].ID != c.ID {
		t.Fatalf("search as the workspace's role: %v, %v", got, err)
	}
}

// The list's search filter pages with the list's cursor.
func TestSearchInboxFilterPages(t *testing.T) {
	f := newSearchFixture(t)
	var want []int64
	for i := 0; i < 3; i++ {
		id, err := f.st.CreateConversation(ctx, f.st.Pool, "api", f.ada.ID, fmt.Sprintf("Quarterly report %d", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.InsertMessage(ctx, f.st.Pool, &store.Message{ConversationID: id, Channel: "api", Direction: "incoming", Body: "see subject"}); err != nil {
			t.Fatal(err)
		}
		want = append([]int64{id}, want...)
	}
	var got []int64
	v := store.View{Search: "quart", Limit: 1}
	for page := 0; page < 5; page++ {
		convs, err := f.st.Conversations(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if len(convs) == 0 {
			break
		}
		got = append(got, convs[0].ID)
		v.BeforeAt, v.BeforeID = convs[0].LastMessageAt, convs[0].ID
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pages %v, want %v", got, want)
	}
}

// Past the newest messages, a query of a common and a rare word reads the
// rare one's matches from the index and checks the common one on them:
// the same messages as the whole query.
func TestSearchCommonAndRareWordBeyondTheNewestMessages(t *testing.T) {
	f := newSearchFixture(t)
	if _, err := f.st.Pool.Exec(ctx, `INSERT INTO messages (conversation_id, channel, direction, body)
		SELECT $1, 'api', 'incoming', 'order number ' || g FROM generate_series(1, 7000) g`, f.graceConv); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Pool.Exec(ctx, `ANALYZE messages`); err != nil {
		t.Fatal(err)
	}
	// "order 4711": filler 4711 is among the newest 5,000 messages, the
	// fixture's "Please refund order 4711" is older, found by "4711" alone
	// in the index (order is in every message) and checked for "order".
	msgs, more, err := f.st.SearchMessages(ctx, f.parse(t, "order 4711"), 0, 10)
	got := ids(msgs, func(m *store.MessageHit) int64 { return m.ID })
	if err != nil || len(got) != 2 || more || got[1] != f.refundMsg {
		t.Fatalf("order 4711: %v, more %v, %v; want filler 4711 and the refund message", got, more, err)
	}
}
