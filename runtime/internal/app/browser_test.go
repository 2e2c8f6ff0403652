package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// artifactsDir is where screenshots go: $SWITCHBOARD_ARTIFACTS, or artifacts/browser.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("SWITCHBOARD_ARTIFACTS")
	if dir == "" {
		root, err := harness.Root()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "artifacts", "browser")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func chromium(t *testing.T) string {
	for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("chromium is not installed: run `make test` (hack/install-deps.sh installs it), or apt-get install -y chromium")
	return ""
}

// TestBrowserFlow drives the real UI in headless Chromium: first sign-in and
// password change, an invite, a message arriving live, a signed reply,
// assignment, tagging and resolving, then the contact, a note, a deal and
// the pipeline board.
func TestBrowserFlow(t *testing.T) {
	v, err := harness.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	a, initial, _ := startTenant(t, v, "browser")
	base := "http://" + a.Addr()
	shots := artifactsDir(t)

	var mu sync.Mutex
	var hookBody []byte
	var hookSig string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hookBody, hookSig = b, r.Header.Get("X-Switchboard-Signature")
		mu.Unlock()
	}))
	defer hook.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()

	// Start the browser on the long-lived context: the first run binds it.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			buf, _ := chromedp.Run(bctx, chromedp.FullScreenshot(100))
			_ = os.WriteFile(filepath.Join(shots, "failed-"+name+".png"), buf, 0o644)
			t.Fatalf("%s: %v (screenshot failed-%s.png)", name, err, name)
		}
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			buf, err := chromedp.FullScreenshot(100)(ctx, t)
			if err != nil {
				return chromedp.Void{}, err
			}
			return chromedp.Void{}, os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		}
	}

	t.Log("1. the bootstrap owner signs in and changes the password")
	newPassword := "a-much-better-password"
	step("login",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("#email")),
		chromedp.SendKeys(chromedp.ID("#email"), "owner@browser.example"),
		chromedp.SendKeys(chromedp.ID("#password"), initial),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("#new")),
		shot("01-change-password"),
		chromedp.SendKeys(chromedp.ID("#current"), initial),
		chromedp.SendKeys(chromedp.ID("#new"), newPassword),
		chromedp.SendKeys(chromedp.ID("#confirm"), newPassword),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".inbox")),
		shot("02-inbox-empty"),
	)

	t.Log("2. the owner invites an agent, makes an API token and sets the webhook")
	var inviteLink, apiToken, webhookSecret string
	step("invite",
		chromedp.Navigate(base+"/settings"),
		chromedp.WaitVisible(chromedp.ID("#invite-email")),
		chromedp.SendKeys(chromedp.ID("#invite-email"), "agent@browser.example"),
		chromedp.SetValue(chromedp.ID("#invite-role"), "agent"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Create invite link')]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=secret] code`)),
		textInto(chromedp.CSS(`[data-testid=secret] code`), &inviteLink),
		shot("03-invite"),
		chromedp.SendKeys(chromedp.ID("#t-name"), "inbound integration"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Create token')]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@data-testid='secret'][contains(., 'API token')]`)),
		textInto(chromedp.CSS(`[data-testid=secret] code`), &apiToken),
		chromedp.SendKeys(chromedp.ID("#c-short"), "thanks"),
		chromedp.SendKeys(chromedp.ID("#c-title"), "Thanks for waiting"),
		chromedp.SendKeys(chromedp.ID("#c-body"), "Thank you for your patience!"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Add canned reply')]`)),
		chromedp.WaitVisible(chromedp.Search(`//code[contains(., '/thanks')]`)),
		chromedp.SendKeys(chromedp.ID("#webhook"), hook.URL),
		chromedp.Click(chromedp.Search(`//form[@action='/settings/api-channel']//button[not(@name)]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(@class,'notice')][contains(., 'API channel saved')]`)),
		chromedp.Click(chromedp.CSS(`button[name=reveal]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@data-testid='secret'][contains(., 'Webhook signing secret')]`)),
		textInto(chromedp.CSS(`[data-testid=secret] code`), &webhookSecret),
	)
	if !strings.Contains(inviteLink, "/invite/") || !strings.HasPrefix(apiToken, "sbt_") || !strings.HasPrefix(webhookSecret, "whsec_") {
		t.Fatalf("invite %q, token %q, secret %q", inviteLink, apiToken, webhookSecret)
	}
	// The agent accepts the invite (in their own browser; a plain client here).
	u, _ := url.Parse(inviteLink)
	resp, err := client(t).PostForm(base+u.Path, url.Values{"name": {"Alan Agent"}, "new": {"agent-password-1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/inbox" {
		t.Fatalf("accepting the invite ended at %s", resp.Request.URL)
	}

	t.Log("3. an inbound API message arrives and shows up live, without a reload")
	// The message must be posted once the page's event stream is connected:
	// no stream before the inbox opens, one after.
	waitUntil(t, "earlier event streams to close", func() bool { return a.Live.Subscribers() == 0 })
	step("open inbox", chromedp.Navigate(base+"/inbox?view=all"), chromedp.WaitVisible(chromedp.CSS(".inbox")))
	waitUntil(t, "the inbox's event stream", func() bool { return a.Live.Subscribers() >= 1 })
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/messages", strings.NewReader(
		`{"contact":{"identifier":"+15550123","name":"Marie Curie"},"messageId":"wa-001","text":"Where is my order?"}`))
	req.Header.Set("Authorization", "Bearer "+apiToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("inbound message: %v %v", resp, err)
	}
	step("live update",
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'conv')][contains(., 'Where is my order?')]`)),
		shot("04-message-arrived-live"),
	)

	t.Log("4. the owner replies; the webhook receives it, signed")
	step("reply",
		chromedp.Click(chromedp.Search(`//li[contains(@class,'conv')][contains(., 'Marie Curie')]//a`)),
		chromedp.WaitVisible(chromedp.ID("#reply")),
		chromedp.SendKeys(chromedp.ID("#reply"), "/than"),
		chromedp.WaitVisible(chromedp.Search(`//ul[contains(@class,'canned-suggestions')]/li[contains(., '/thanks')]`)),
		chromedp.Click(chromedp.Search(`//ul[contains(@class,'canned-suggestions')]/li[contains(., '/thanks')]`)),
		chromedp.SendKeys(chromedp.ID("#reply"), " We shipped it this morning."),
		chromedp.Click(chromedp.CSS(`.composer button.primary`)),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'outgoing')][contains(., 'We shipped it this morning.')]`)),
	)
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		body, sig := hookBody, hookSig
		mu.Unlock()
		if body != nil {
			if err := inbox.Verify(webhookSecret, sig, body, time.Now(), 5*time.Minute); err != nil {
				t.Fatalf("webhook signature: %v", err)
			}
			if !strings.Contains(string(body), "Thank you for your patience! We shipped it this morning.") {
				t.Fatalf("webhook body: %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the webhook received nothing")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The worker records "sent" after the webhook answers; reload once it has,
	// so that no late live update replaces the page while the next step types.
	waitUntil(t, "the reply recorded as sent", func() bool {
		var st string
		_ = a.Store.Pool.QueryRow(context.Background(),
			`SELECT delivery_status FROM messages WHERE direction = 'outgoing' ORDER BY id DESC LIMIT 1`).Scan(&st)
		return st == "sent"
	})
	step("delivered", chromedp.Reload(), chromedp.WaitVisible(chromedp.Search(`//span[@data-testid='delivery'][contains(., 'sent')]`)),
		shot("05-replied"))

	t.Log("5. assign, tag, prioritise and resolve")
	owner, err := a.Store.UserByEmail(context.Background(), "owner@browser.example")
	if err != nil {
		t.Fatal(err)
	}
	var status string
	step("assign and resolve",
		chromedp.SetValue(chromedp.ID("#assignee"), fmt.Sprint(owner.ID)),
		chromedp.SetValue(chromedp.ID("#priority"), "high"),
		chromedp.SendKeys(chromedp.ID("#add_tags"), "shipping vip"),
		chromedp.Click(chromedp.CSS(`form.routing button`)),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'event')][contains(., 'assigned it to')]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@class='tags']/span[contains(., '#vip')]`)),
		chromedp.Click(chromedp.CSS(`#resolve-form button[data-key=e]`)),
		chromedp.WaitVisible(chromedp.Search(`//span[@data-testid='status'][contains(., 'resolved')]`)),
		textInto(chromedp.CSS(`[data-testid=status]`), &status),
		shot("06-resolved"),
	)

	t.Log("6. the contact: a note, a deal, and the deal moved across the board")
	var wonValue string
	step("contact",
		chromedp.Click(chromedp.Search(`//a[contains(., 'Open contact')]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=contact-name]`)),
		chromedp.SendKeys(chromedp.ID("#note"), "Prefers email over phone."),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Add note')]`)),
		chromedp.WaitVisible(chromedp.Search(`//ol[@data-testid='activity']//li[contains(., 'Prefers email over phone.')]`)),
		chromedp.SendKeys(chromedp.ID("#d-title"), "Annual plan"),
		chromedp.SendKeys(chromedp.ID("#d-value"), "1200"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Create deal')]`)),
		chromedp.WaitVisible(chromedp.Search(`//ol[@data-testid='activity']//li[contains(., 'Annual plan')]`)),
		shot("07-contact"),
		chromedp.Navigate(base+"/pipeline"),
		chromedp.WaitVisible(chromedp.Search(`//section[@aria-label='Lead']//article[contains(., 'Annual plan')]`)),
		evalInto(`(function(){var s=document.querySelector('article.deal select');var o=Array.prototype.find.call(s.options,function(o){return o.text==='Won'});s.value=o.value;return o.value})()`, &wonValue),
		chromedp.Click(chromedp.CSS(`article.deal form.move button`)),
		chromedp.WaitVisible(chromedp.Search(`//section[@aria-label='Won']//article[contains(., 'Annual plan')]`)),
		shot("08-board"),
	)
	var stage string
	if err := a.Store.Pool.QueryRow(context.Background(), `SELECT s.name FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id WHERE d.title = 'Annual plan'`).Scan(&stage); err != nil || stage != "Won" {
		t.Fatalf("deal stage %q (%v)", stage, err)
	}

	t.Log("7. the keyboard: j and k move between conversations, r goes to the reply box, e resolves")
	req, _ = http.NewRequest(http.MethodPost, base+"/api/v1/messages", strings.NewReader(
		`{"contact":{"identifier":"+15550999","name":"Ada Lovelace"},"messageId":"wa-002","text":"Is the API down?"}`))
	req.Header.Set("Authorization", "Bearer "+apiToken)
	req.Header.Set("Content-Type", "application/json")
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("second inbound message: %v %v", resp, err)
	}
	var first, second, focused, focused2 string
	heading := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//div[@class='conv-head']//h1[.=%q]`, name)))
	}
	step("keyboard j",
		chromedp.Navigate(base+"/inbox?view=all"),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'conv')][contains(., 'Ada Lovelace')]`)),
		chromedp.KeyEvent("j"),
		chromedp.WaitVisible(chromedp.CSS(`.conv-head h1`)),
		textInto(chromedp.CSS(`.conv-head h1`), &first),
	)
	other := map[string]string{"Ada Lovelace": "Marie Curie", "Marie Curie": "Ada Lovelace"}[first]
	if other == "" {
		t.Fatalf("j opened %q, want one of the two conversations", first)
	}
	step("keyboard j k", chromedp.KeyEvent("j"), heading(other), textInto(chromedp.CSS(`.conv-head h1`), &second),
		chromedp.KeyEvent("k"), heading(first))
	if first != "Ada Lovelace" {
		step("keyboard to Ada", chromedp.KeyEvent("j"), heading("Ada Lovelace"))
	}
	step("keyboard r e",
		chromedp.KeyEvent("r"),
		evalInto(`document.activeElement ? document.activeElement.id : ''`, &focused),
		evalInto(`(document.activeElement.blur(), '')`, &focused2),
		chromedp.KeyEvent("e"),
		chromedp.WaitVisible(chromedp.Search(`//span[@data-testid='status'][contains(., 'resolved')]`)),
	)
	if second != other || focused != "reply" {
		t.Fatalf("keyboard: j opened %q then %q; r focused %q", first, second, focused)
	}

	t.Log("8. on a phone-sized screen every page fits the width: nothing scrolls sideways")
	var overflow string
	for _, page := range []struct{ name, path, ready string }{
		{"inbox", "/inbox?view=all", ".inbox"},
		{"conversation", "/inbox?view=all", ".inbox"},
		{"contacts", "/contacts", "main"},
		{"pipeline", "/pipeline", "main"},
		{"settings", "/settings", "main"},
	} {
		actions := []chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
			chromedp.Navigate(base + page.path), chromedp.WaitVisible(chromedp.CSS(page.ready))}
		if page.name == "conversation" {
			actions = append(actions, chromedp.Click(chromedp.Search(`//li[contains(@class,'conv')]//a`)),
				chromedp.WaitVisible(chromedp.ID("#reply")))
		}
		actions = append(actions,
			evalInto(overflowJS, &overflow),
			shot("09-phone-"+page.name))
		if page.name == "conversation" { // and back to the list, which a phone shows on its own
			actions = append(actions, chromedp.Click(chromedp.CSS(`a.back`)), chromedp.WaitVisible(chromedp.CSS(`.list .conversations`)))
		}
		step("phone "+page.name, actions...)
		if overflow != "" {
			t.Errorf("%s on a 390 px screen scrolls sideways: %s (screenshot 09-phone-%s.png)", page.name, overflow, page.name)
		}
	}
	t.Logf("screenshots in %s", shots)
}

// overflowJS says what sticks out past the right edge of the window, or "".
const overflowJS = `(function(){
  var d = document.documentElement, w = window.innerWidth;
  if (d.scrollWidth <= w) return '';
  var out = [];
  document.querySelectorAll('body *').forEach(function(e){
    var r = e.getBoundingClientRect();
    if (r.right > w + 1 && out.length < 4 && e.offsetParent !== null) {
      out.push(e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : '') + ' ' + Math.round(r.right) + 'px');
    }
  });
  return 'page ' + d.scrollWidth + 'px wide: ' + out.join(', ');
})()`

// textInto reads an element's text into dst, as a step.
func textInto[S chromedp.Selectable](sel S, dst *string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := chromedp.Text(sel)(ctx, t)
		*dst = v
		return chromedp.Void{}, err
	}
}

// evalInto evaluates JavaScript into dst, as a step.
func evalInto(expr string, dst *string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := chromedp.Evaluate[string](expr)(ctx, t)
		*dst = v
		return chromedp.Void{}, err
	}
}
