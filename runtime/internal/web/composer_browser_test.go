package web

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-dev/switchboard/runtime/internal/channels/sms"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels/sms/smstest"
)

// TestComposerInChromium runs the composer's JavaScript in headless
// Chromium: the SMS segment table through both counters (package sms, what
// the server and the Telnyx emulator count, and static/sms.js, what the
// composer shows), the live counter under an SMS reply box, and a template
// filled in and sent outside a messaging window.
func TestComposerInChromium(t *testing.T) {
	f := newFixture(t)
	_, _, waConv, smsConv := withChannels(t, f)
	bctx := chromiumContext(t)
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}

	t.Log("1. sms.js and package sms count the same table")
	script, err := staticFS.ReadFile("static/sms.js")
	if err != nil {
		t.Fatal(err)
	}
	cases := smstest.Cases()
	texts := make([]string, len(cases))
	for i, c := range cases {
		texts[i] = c.Text
	}
	// Beyond the table: texts built to sit on the limits, in both encodings.
	for _, n := range []int{66, 67, 68, 69, 70, 71, 152, 153, 154, 159, 160, 161, 305, 306, 307} {
		texts = append(texts, strings.Repeat("a", n-1)+"€", strings.Repeat("€", n/2)+strings.Repeat("a", n%2),
			strings.Repeat("ж", n/2)+strings.Repeat("😀", n/4), strings.Repeat("😀", n/2)+strings.Repeat("ж", n%2))
	}
	in, _ := json.Marshal(texts)
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](string(script)+"\nJSON.stringify("+string(in)+".map(SwitchboardSMS.count));"))
	if err != nil {
		t.Fatalf("running sms.js: %v", err)
	}
	var got []sms.Info
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != len(texts) {
		t.Fatalf("sms.js answered %q (%v)", out, err)
	}
	for i, s := range texts {
		if want := sms.Count(s); got[i] != want {
			t.Errorf("%q: sms.js %+v, package sms %+v", abbrev(s), got[i], want)
		}
		if i < len(cases) && (got[i].Parts != cases[i].Parts || got[i].Encoding != cases[i].Encoding || got[i].Units != cases[i].Units) {
			t.Errorf("%s: sms.js %+v, the table wants %d %s %d", cases[i].Name, got[i], cases[i].Parts, cases[i].Encoding, cases[i].Units)
		}
	}

	t.Log("2. an agent signs in; the SMS reply box counts segments as they type")
	step("sign in",
		signIn(f.ts.URL, "agent@acme.example"),
		chromedp.WaitVisible(chromedp.CSS(".inbox")),
		chromedp.Navigate(fmt.Sprintf("%s/inbox/conversations/%d", f.ts.URL, smsConv)),
		chromedp.WaitVisible(chromedp.ID("#reply")),
		chromedp.SendKeys(chromedp.ID("#reply"), "Hi {there}"),
	)
	if got := text(".segments"); got != "1 SMS segment · GSM-7 · 12/160" {
		t.Fatalf("after typing: %q", got)
	}
	step("a long reply",
		chromedp.Evaluate[chromedp.Void](`(function(){var a=document.getElementById("reply");a.value="€".repeat(81);a.dispatchEvent(new Event("input",{bubbles:true}));})()`),
	)
	if got := text(".segments"); got != "2 SMS segments · GSM-7 · 162/306" {
		t.Fatalf("81 euro signs: %q", got)
	}
	step("unicode",
		chromedp.Evaluate[chromedp.Void](`(function(){var a=document.getElementById("reply");a.value="Привет 😀";a.dispatchEvent(new Event("input",{bubbles:true}));})()`),
	)
	if got := text(".segments"); got != "1 SMS segment · UCS-2 · 9/70" {
		t.Fatalf("Cyrillic and an emoji: %q", got)
	}

	t.Log("3. two days later the WhatsApp conversation takes templates only; one is filled in and sent")
	f.srv.Inbox.Now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	tmpl := `form.template[data-template="order_update"]`
	step("template",
		chromedp.Navigate(fmt.Sprintf("%s/inbox/conversations/%d", f.ts.URL, waConv)),
		chromedp.WaitVisible(chromedp.CSS(tmpl+` input[data-var="1"]`)),
		chromedp.SendKeys(chromedp.CSS(tmpl+` input[data-var="1"]`), "Grace"),
	)
	if got := text(tmpl + " .template-body"); got != "Hi Grace, your order {{2}} has shipped." {
		t.Fatalf("template preview: %q", got)
	}
	ctx2, cancel2 := context.WithTimeout(bctx, 30*time.Second)
	defer cancel2()
	if dis, _ := chromedp.Run(ctx2, chromedp.Evaluate[bool](`document.querySelector('[data-testid=send]').disabled`)); !dis {
		t.Fatal("the Send button is enabled outside the window")
	}
	step("send the template",
		chromedp.SendKeys(chromedp.CSS(tmpl+` input[data-var="2"]`), "#1042"),
		chromedp.Click(chromedp.CSS(tmpl+` button[type=submit]`)),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'outgoing')][contains(., 'Hi Grace, your order #1042 has shipped.')]`)),
	)
}

// chromiumContext starts headless Chromium for the test.
func chromiumContext(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(p); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("chromium is not installed: run `make test` (hack/install-deps.sh installs it), or apt-get install -y chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	// The first run binds the browser to this long-lived context.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return bctx
}

func abbrev(s string) string {
	if r := []rune(s); len(r) > 30 {
		return string(r[:30]) + "…"
	}
	return s
}
