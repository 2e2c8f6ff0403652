package web

import (
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

func TestFoldQuoted(t *testing.T) {
	cases := []struct {
		name, body, text, quoted string
	}{
		{"gmail", "Thanks, that works.\n\nOn Tue, 3 Mar 2026 at 10:02, Support <s@x.test> wrote:\n> It ships tomorrow.\n> Regards\n",
			"Thanks, that works.", "On Tue, 3 Mar 2026 at 10:02, Support <s@x.test> wrote:\n> It ships tomorrow.\n> Regards"},
		{"wrapped attribution", "Yes please.\n\nOn Tue, 3 Mar 2026 at 10:02, Support Desk of a Long Name\n<support@example.test> wrote:\n\n> Shall we?",
			"Yes please.", "On Tue, 3 Mar 2026 at 10:02, Support Desk of a Long Name\n<support@example.test> wrote:\n\n> Shall we?"},
		{"french", "Merci !\n\nLe mar. 3 mars 2026 à 10:02, Support <s@x.test> a écrit :\n> Bonjour", "Merci !",
			"Le mar. 3 mars 2026 à 10:02, Support <s@x.test> a écrit :\n> Bonjour"},
		{"outlook separator", "See below.\r\n\r\n-----Original Message-----\r\nFrom: Support\r\nSent: Monday\r\nSubject: Re: x\r\n\r\nOld text",
			"See below.", "-----Original Message-----\nFrom: Support\nSent: Monday\nSubject: Re: x\n\nOld text"},
		{"outlook header block", "Got it, thanks.\n\n________________________________\nFrom: Support Desk <s@x.test>\nSent: Monday, 2 March 2026 10:02\nTo: Alice <a@x.test>\nSubject: Re: Order 12\n\nIt ships tomorrow.",
			"Got it, thanks.", "________________________________\nFrom: Support Desk <s@x.test>\nSent: Monday, 2 March 2026 10:02\nTo: Alice <a@x.test>\nSubject: Re: Order 12\n\nIt ships tomorrow."},
		{"bare trailing quote", "Agreed.\n\n> Shall we ship it?\n>\n> Bob", "Agreed.", "> Shall we ship it?\n>\n> Bob"},
		// Left whole:
		{"inline answers", "Hi,\n\nOn Mon, Bob <b@x.test> wrote:\n> Can you do X?\nYes.\n> And Y?\nNo.", "Hi,\n\nOn Mon, Bob <b@x.test> wrote:\n> Can you do X?\nYes.\n> And Y?\nNo.", ""},
		{"all quoted", "On Mon, Bob <b@x.test> wrote:\n> forwarded", "On Mon, Bob <b@x.test> wrote:\n> forwarded", ""},
		{"no quote", "Where is my order?\nFrom: my phone", "Where is my order?\nFrom: my phone", ""},
		{"a From: line that is not a header", "The parcel came.\n\nFrom: the courier, who was late.\nThanks", "The parcel came.\n\nFrom: the courier, who was late.\nThanks", ""},
		{"attribution without a quote", "On Monday I wrote:\nnothing quoted here", "On Monday I wrote:\nnothing quoted here", ""},
	}
	for _, c := range cases {
		got := foldQuoted("imap/desk", "incoming", c.body)
		if got.Text != c.text || got.Quoted != c.quoted {
			t.Errorf("%s:\ntext   %q\nquoted %q\nwant   %q\n       %q", c.name, got.Text, got.Quoted, c.text, c.quoted)
		}
	}
	body := "Thanks.\n\n> quoted"
	for _, m := range []struct{ channel, direction string }{{"whatsapp/main", "incoming"}, {"imap/desk", "outgoing"}, {"imap/desk", "note"}} {
		if got := foldQuoted(m.channel, m.direction, body); got.Quoted != "" || got.Text != body {
			t.Errorf("%s %s was folded: %+v", m.channel, m.direction, got)
		}
	}
	if got := foldQuoted("microsoft/m365", "incoming", body); got.Text != "Thanks." {
		t.Errorf("microsoft mail not folded: %+v", got)
	}
}

// TestQuotedHistoryFoldedOnThePage: the conversation shows an email's own
// text, and its quoted history under a closed "Show quoted text".
func TestQuotedHistoryFoldedOnThePage(t *testing.T) {
	f := newFixture(t)
	res, err := f.srv.Inbox.Ingest(bg, inbox.Inbound{Channel: "imap/desk", Identifier: "alice@example.test", ContactName: "Alice",
		ExternalID: "q1@alice.test", Body: "Gift-wrap it please.\n\nOn Tue, 3 Mar 2026 at 10:02, Support <s@x.test> wrote:\n> It ships tomorrow."})
	if err != nil {
		t.Fatal(err)
	}
	page := f.page(t, res.Conversation.ID)
	want := `Gift-wrap it please.<details class="quoted" data-testid="quoted"><summary>Show quoted text</summary><div class="quoted-text">On Tue, 3 Mar 2026 at 10:02, Support &lt;s@x.test&gt; wrote:
&gt; It ships tomorrow.</div></details>`
	if !strings.Contains(page, want) {
		t.Fatalf("the page shows:\n%s", excerpt(page, "Gift-wrap"))
	}
}
