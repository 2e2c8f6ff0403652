package web

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

// TestEmailThreadInChromium: an email's quoted history is folded until the
// agent opens it, and a reply whose answer was lost shows as unconfirmed,
// with Send again.
func TestEmailThreadInChromium(t *testing.T) {
	f := newFixture(t)
	mail := &fakeChannel{name: "imap/desk", fail: adapter.Unconfirmed(errors.New("read tcp 10.0.0.1:587: connection reset by peer"))}
	f.srv.Inbox.Resolve = func(name string) (inbox.Channel, bool) { return mail, name == mail.name }
	res, err := f.srv.Inbox.Ingest(bg, inbox.Inbound{Channel: mail.name, Identifier: "alice@example.test", ContactName: "Alice",
		ExternalID: "q1@alice.test", Body: "Could you gift-wrap it, please?\n\nOn Tue, 3 Mar 2026 at 10:02, Support <support@acme.example> wrote:\n" +
			"> Your order 12 ships tomorrow.\n>\n> Regards,\n> Support"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Inbox.Reply(bg, f.users[auth.Agent].ID, res.Conversation.ID, "Of course, it will be gift-wrapped."); err != nil {
		t.Fatal(err)
	}
	f.deliverOutbox()

	br := newBrowserRun(t, "email")
	step, eval, shot := br.step, br.eval, br.shot
	step("open the conversation",
		chromedp.EmulateViewport(1366, 768),
		signIn(f.ts.URL, "agent@acme.example"),
		chromedp.WaitVisible(chromedp.CSS(".inbox")),
		chromedp.Navigate(fmt.Sprintf("%s/inbox/conversations/%d?view=all", f.ts.URL, res.Conversation.ID)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=quoted] summary`)),
		chromedp.WaitVisible(chromedp.Search(`//div[@data-testid='unconfirmed'][contains(., 'Delivery not confirmed')]`)),
		chromedp.WaitVisible(chromedp.Search(`//div[@data-testid='unconfirmed']//button[contains(., 'Send again')]`)),
		shot("email-quoted-folded-1366"),
	)
	// innerText is what is rendered: a closed details shows its summary only.
	bubble := `document.querySelector("[data-testid=message] .bubble").innerText`
	if got := eval(bubble); !strings.Contains(got, "gift-wrap it, please?") || strings.Contains(got, "ships tomorrow") {
		t.Fatalf("before it is opened, the bubble shows %q", got)
	}
	step("open the quoted history",
		chromedp.Click(chromedp.CSS(`[data-testid=quoted] summary`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=quoted] .quoted-text`)),
		shot("email-quoted-open-1366"),
	)
	if got := eval(bubble); !strings.Contains(got, "Your order 12 ships tomorrow.") {
		t.Fatalf("opened, the bubble shows %q", got)
	}
}
