package web

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

// TestReplyFilesInChromium: an agent attaches files to an email reply in
// the composer. Too many are refused before anything is uploaded; the
// files sent show in the thread, and the box is empty again.
func TestReplyFilesInChromium(t *testing.T) {
	f := newFixture(t)
	mail := &fakeChannel{name: "imap/desk"}
	f.srv.Inbox.Resolve = func(name string) (inbox.Channel, bool) { return mailChannel{mail}, name == mail.name }
	res, err := f.srv.Inbox.Ingest(bg, inbox.Inbound{Channel: mail.name, Identifier: "hana@example.test", ContactName: "Hana",
		ExternalID: "f1@hana.test", Body: "Could you send me the signed contract and the price list?"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var paths []string
	for i, name := range []string{"contract-signed.pdf", "price list.csv", "c.txt", "d.txt"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte('a' + i)}, 1000*(i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}

	br := newBrowserRun(t, "reply-files")
	step, eval, shot := br.step, br.eval, br.shot
	attach := chromedp.CSS(`[data-testid=attach]`)
	step("open the conversation",
		chromedp.EmulateViewport(1366, 768),
		signIn(f.ts.URL, "agent@acme.example"),
		chromedp.WaitVisible(chromedp.CSS(".inbox")),
		chromedp.Navigate(fmt.Sprintf("%s/inbox/conversations/%d?view=all", f.ts.URL, res.Conversation.ID)),
		chromedp.WaitVisible(attach),
	)
	step("choose four files: more than the channel takes",
		chromedp.SetUploadFiles(attach, paths),
		chromedp.Click(chromedp.CSS(`[data-testid=send]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@class='field-error'][contains(., 'At most 3 files')]`)),
	)
	var n int
	_ = f.srv.Inbox.Store.Pool.QueryRow(bg, `SELECT count(*) FROM messages WHERE direction = 'outgoing'`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d replies stored though the files were refused in the page", n)
	}
	step("attach two, write, send",
		chromedp.SetUploadFiles(attach, paths[:2]),
		chromedp.SendKeys(chromedp.ID("#reply"), "Here are both."),
		chromedp.WaitVisible(chromedp.Search(`//span[@data-testid='chosen'][contains(., 'contract-signed.pdf, price list.csv (3 KiB)')]`)),
		shot("reply-files-chosen-1366"),
		chromedp.Click(chromedp.CSS(`[data-testid=send]`)),
		chromedp.WaitVisible(chromedp.Search(`//li[@data-testid='message'][contains(., 'Here are both.')]//a[@class='attachment'][contains(., 'price list.csv')]`)),
		shot("reply-files-sent-1366"),
	)
	if got := eval(`document.querySelectorAll(".reply-form .field-error").length + "/" + document.querySelector("[data-testid=attach]").files.length + "/" +
		document.querySelector("[data-testid=chosen]").textContent + "/" + document.getElementById("reply").value`); got != "0/0//" {
		t.Errorf("after sending, the composer holds %q (files/text)", got)
	}
	rows, err := f.srv.Inbox.Store.Pool.Query(bg, `SELECT a.filename || ':' || a.size FROM attachments a JOIN messages m ON m.id = a.message_id
		WHERE m.direction = 'outgoing' ORDER BY a.id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		got = append(got, s)
	}
	if strings.Join(got, ",") != "contract-signed.pdf:1000,price list.csv:2000" {
		t.Errorf("stored files: %v", got)
	}
}
