package app

import (
	"context"
	"errors"
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	vaultapi "github.com/hashicorp/vault/api"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/emulators/metatest"
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
// the pipeline board, the keyboard and a phone-sized screen; last a WhatsApp
// conversation answered inside its 24-hour window and, once the app's
// clock has moved past it, with an approved template.
func TestBrowserFlow(t *testing.T) {
	v, err := harness.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	clock := &testClock{}
	a, initial, _ := startTenant(t, v, "browser", func(a *App) {
		a.Inbox.Now, a.Integrations.Now = clock.Now, clock.Now
	})
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
	var reloaded string
	step("invite",
		chromedp.Navigate(base+"/settings/team"),
		chromedp.WaitVisible(chromedp.ID("#invite-email")),
		chromedp.SendKeys(chromedp.ID("#invite-email"), "agent@browser.example"),
		chromedp.SetValue(chromedp.ID("#invite-role"), "agent"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Create invite link')]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=secret] input`)),
		evalInto(`document.querySelector("[data-testid=secret] input").value`, &inviteLink),
		shot("03-invite"),
		// Post-redirect-get: the address is the settings page, and reloading it
		// shows the page again, without the one-time link.
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("#invite-email")),
		evalInto(`String(document.querySelector('[data-testid=secret]') === null && location.pathname === '/settings/team')`, &reloaded),
		chromedp.Navigate(base+"/settings/api"),
		chromedp.WaitVisible(chromedp.ID("#t-name")),
		chromedp.SendKeys(chromedp.ID("#t-name"), "inbound integration"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Create token')]`)),
		chromedp.WaitVisible(chromedp.Search(`//div[@data-testid='secret'][contains(., 'API token')]`)),
		evalInto(`document.querySelector("[data-testid=secret] input").value`, &apiToken),
		chromedp.Navigate(base+"/settings/team"),
		chromedp.WaitVisible(chromedp.ID("#c-short")),
		chromedp.SendKeys(chromedp.ID("#c-short"), "thanks"),
		chromedp.SendKeys(chromedp.ID("#c-title"), "Thanks for waiting"),
		chromedp.SendKeys(chromedp.ID("#c-body"), "Thank you for your patience!"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Add canned reply')]`)),
		chromedp.WaitVisible(chromedp.Search(`//code[contains(., '/thanks')]`)),
		chromedp.Navigate(base+"/settings/channels"),
		chromedp.WaitVisible(chromedp.ID("#webhook")),
		chromedp.SendKeys(chromedp.ID("#webhook"), hook.URL),
		chromedp.Click(chromedp.Search(`//form[@action='/settings/api-channel']//button[not(@name)]`)),
		chromedp.WaitVisible(chromedp.Search(`//div[@data-testid='notice'][contains(., 'API channel saved')]`)),
		chromedp.Click(chromedp.CSS(`button[name=reveal]`)),
		chromedp.WaitVisible(chromedp.Search(`//div[@data-testid='secret'][contains(., 'Webhook signing secret')]`)),
		evalInto(`document.querySelector("[data-testid=secret] input").value`, &webhookSecret),
	)
	if reloaded != "true" {
		t.Fatal("reloading the page after creating an invite did not show the settings page without the link")
	}
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
	// Every signed-in page has a stream (the notification bell): leave them first.
	step("leave the app", chromedp.Navigate("about:blank"))
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
		// Routing applies when chosen (a change event), with no Save button.
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(function(){var s=document.getElementById("assignee");s.value=%q;s.dispatchEvent(new Event("change",{bubbles:true}))})()`, fmt.Sprint(owner.ID))),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'event')][contains(., 'assigned')]`)),
		chromedp.Evaluate[chromedp.Void](`(function(){var s=document.getElementById("priority");s.value="high";s.dispatchEvent(new Event("change",{bubbles:true}))})()`),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,'event')][contains(., 'high')]`)),
		chromedp.SendKeys(chromedp.ID("#add_tags"), "shipping vip"),
		chromedp.Click(chromedp.CSS(`form.tag-add button`)),
		chromedp.WaitVisible(chromedp.Search(`//ul[@data-testid='tags']/li[contains(., '#vip')]`)),
		chromedp.Click(chromedp.CSS(`#resolve-form button[data-key=e]`)),
		chromedp.WaitVisible(chromedp.Search(`//span[@data-testid='status'][contains(., 'resolved')]`)),
		textInto(chromedp.CSS(`[data-testid=status]`), &status),
		shot("06-resolved"),
	)

	t.Log("6. the contact: a note, a deal, and the deal moved across the board")
	var wonValue, contactURL string
	step("contact",
		// Open the contact's page by its link's address and wait for the
		// load: a click can race a live refresh of the conversation's
		// sidebar, which once left the test typing into a page that was
		// still being replaced.
		evalInto(`document.evaluate("//a[contains(., 'Open contact')]", document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue.href`, &contactURL),
		func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			if !strings.Contains(contactURL, "/contacts/") {
				return chromedp.Void{}, fmt.Errorf("the Open contact link goes to %q", contactURL)
			}
			return chromedp.Navigate(contactURL)(ctx, t)
		},
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
		// Any status: Marie Curie's conversation is resolved, and views show open ones by default.
		chromedp.Navigate(base+"/inbox?view=all&status=all"),
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
		{"inbox", "/inbox?view=all&status=all", ".inbox"},
		{"conversation", "/inbox?view=all&status=all", ".inbox"},
		{"contacts", "/contacts", "main"},
		{"pipeline", "/pipeline", "main"},
		{"settings", "/settings/team", "main"},
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
	step("desktop again", chromedp.EmulateViewport(1440, 900))

	whatsAppSteps(t, v, a, clock, base, step, shot)
	t.Logf("screenshots in %s", shots)
}

// whatsAppSteps connects a WhatsApp number (the Graph API emulator) as the
// operator does, through Vault, and has the signed-in owner answer a
// customer: free-form inside the 24-hour window, then, with the app's clock
// moved 25 hours on, only with an approved template.
func whatsAppSteps(t *testing.T, v *harness.Vault, a *App, clock *testClock, base string,
	step func(string, ...chromedp.Action[chromedp.Void]), shot func(string) chromedp.Action[chromedp.Void]) {
	ctx := context.Background()
	meta := metatest.New(metatest.DefaultConfig())
	defer meta.Close()
	meta.SetTemplates(metatest.BodyTemplate("order_shipped", "en_US", "UTILITY", "Hello! Your order {{1}} has shipped."))

	t.Log("9. the operator connects a WhatsApp number: its credentials and the manifest go to Vault")
	const name = "support"
	key := contract.ChannelKey("whatsapp", name)
	hookURL := base + contract.WebhookPath("whatsapp", name)
	vc, err := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	vc.SetToken(harness.RootToken)
	kv := vc.KVv2("switchboard")
	subtree := "workspaces/" + a.Cfg.Workspace
	creds, err := kv.Put(ctx, subtree+"/"+contract.IntegrationEntry(name), map[string]any{
		"accessToken": meta.WhatsAppToken, "appSecret": meta.AppSecret, "verifyToken": meta.VerifyToken})
	if err != nil {
		t.Fatal(err)
	}
	manifest := contract.ChannelManifest{Integrations: map[string]contract.ChannelInfo{name: {
		Type: "whatsapp", UID: "0c5e7d2a-browser-4b1e-9f00-whatsapp0001", CredentialsVersion: creds.VersionMetadata.Version,
		Config:      map[string]string{"phoneNumberId": meta.PhoneNumberID, "businessAccountId": meta.BusinessAccountID, "apiBaseURL": meta.URL},
		WebhookPath: contract.WebhookPath("whatsapp", name)}}}
	if _, err := kv.Put(ctx, subtree+"/"+contract.EntryChannels,
		map[string]any{contract.ChannelManifestKey: contract.EncodeManifest(manifest)}); err != nil {
		t.Fatal(err)
	}
	// The adapter's first template sync is its proof that the token works.
	waitUntil(t, "the WhatsApp integration open with its templates", func() bool {
		return len(a.Inbox.Composer(ctx, key, time.Now()).Templates) == 1
	})

	t.Log("10. a customer writes on WhatsApp; the agent answers inside the 24-hour window")
	const waID, question = "15550142424", "Can I still change my delivery address?"
	if _, resp, err := meta.SendWhatsAppText(hookURL, waID, "Grace Hopper", question); err != nil || resp.Status != http.StatusOK {
		t.Fatalf("the signed WhatsApp webhook: %+v %v", resp, err)
	}
	answer := "Yes: reply with the new address and we will update the order."
	outgoing := func(body string) string {
		return fmt.Sprintf(`//li[contains(@class,'outgoing')][contains(., %q)]`, body)
	}
	step("whatsapp reply",
		chromedp.Navigate(base+"/inbox?view=all"),
		chromedp.Click(chromedp.Search(`//li[contains(@class,'conv')][contains(., 'Grace Hopper')]//a`)),
		chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//li[contains(@class,'incoming')][contains(., %q)]`, question))),
		chromedp.WaitVisible(chromedp.Search(`//p[@data-testid='window'][@data-state='open'][contains(., 'Messaging window open until')]`)),
		chromedp.WaitEnabled(chromedp.CSS(`[data-testid=send]`)),
		chromedp.SendKeys(chromedp.ID("#reply"), answer),
		chromedp.Click(chromedp.CSS(`[data-testid=send]`)),
		chromedp.WaitVisible(chromedp.Search(outgoing(answer))),
	)
	text := waitSent(t, meta, 1)
	if text.To != waID || text.Type != "text" || text.Text != answer || text.Template != nil {
		t.Fatalf("the emulator received %+v, want the text %q to %s", text, answer, waID)
	}
	// The outbox worker records the wamid, and "sent", once the send returns.
	var convID int64
	waitUntil(t, "the reply recorded as sent with its wamid", func() bool {
		var st string
		_ = a.Store.Pool.QueryRow(ctx, `SELECT conversation_id, delivery_status FROM messages WHERE channel = $1 AND external_id = $2`,
			key, text.ID).Scan(&convID, &st)
		return st == "sent"
	})

	t.Log("11. Meta's status callbacks update the reply on the open page, without a reload")
	// Publish only once this page's event stream is the one connected: leave
	// for a page without one, wait for the old stream to close, come back.
	step("leave the inbox", chromedp.Navigate(base+"/settings"), chromedp.WaitVisible(chromedp.CSS("main")))
	// Every signed-in page has a stream (the notification bell): leave them first.
	step("leave the app", chromedp.Navigate("about:blank"))
	waitUntil(t, "earlier event streams to close", func() bool { return a.Live.Subscribers() == 0 })
	convURL := fmt.Sprintf("%s/inbox/conversations/%d", base, convID)
	delivery := func(state string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.Search(outgoing(answer) + fmt.Sprintf(`//span[@data-testid='delivery'][.=%q]`, state)))
	}
	step("conversation", chromedp.Navigate(convURL), delivery("sent"))
	waitUntil(t, "the conversation's event stream", func() bool { return a.Live.Subscribers() >= 1 })
	for _, st := range []string{"delivered", "read"} {
		if resp, err := meta.Deliver(hookURL, meta.WhatsAppStatuses(metatest.WAStatus{ID: text.ID, Status: st, RecipientID: waID})); err != nil || resp.Status != http.StatusOK {
			t.Fatalf("the %s status webhook: %+v %v", st, resp, err)
		}
		step("status "+st, delivery(st))
	}
	step("screenshot window open", shot("10-whatsapp-window-open"))

	t.Log("12. 25 hours later: the window is closed, only an approved template can go")
	clock.Advance(25 * time.Hour)
	owner, err := a.Store.UserByEmail(ctx, "owner@browser.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Inbox.Reply(ctx, owner.ID, convID, "A late free-form reply"); !errors.Is(err, inbox.ErrOutsideWindow) {
		t.Fatalf("a free-form reply outside the window: %v, want ErrOutsideWindow", err)
	}
	const orderNo = "A-1042"
	filled := "Hello! Your order " + orderNo + " has shipped."
	var sendDisabled, preview string
	form := `form.template[data-template='order_shipped']`
	step("templates only",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.Search(`//p[@data-testid='window'][@data-state='templates'][contains(., 'Templates only')]`)),
		evalInto(`String(document.querySelector('[data-testid=send]').disabled)`, &sendDisabled),
		chromedp.WaitVisible(chromedp.CSS(form+` input[data-var='1']`)),
		chromedp.SendKeys(chromedp.CSS(form+` input[data-var='1']`), orderNo),
		textInto(chromedp.CSS(form+` .template-body`), &preview),
		shot("11-whatsapp-templates-only"),
	)
	if sendDisabled != "true" {
		t.Fatalf("outside the window the free-form Send is enabled (disabled=%s)", sendDisabled)
	}
	if preview != filled {
		t.Errorf("the template preview shows %q, want %q", preview, filled)
	}
	step("send template",
		chromedp.Click(chromedp.CSS(form+` button[type=submit]`)),
		chromedp.WaitVisible(chromedp.Search(outgoing(filled))),
	)
	tmpl := waitSent(t, meta, 2)
	if tmpl.To != waID || tmpl.Type != "template" || tmpl.Template == nil || tmpl.Template.Name != "order_shipped" ||
		tmpl.Template.Language != "en_US" || len(tmpl.Template.Params) != 1 || tmpl.Template.Params[0] != orderNo {
		t.Fatalf("the emulator received %+v (template %+v), want order_shipped en_US [%s] to %s", tmpl, tmpl.Template, orderNo, waID)
	}
	waitUntil(t, "the template recorded as sent", func() bool {
		var st string
		_ = a.Store.Pool.QueryRow(ctx, `SELECT delivery_status FROM messages WHERE channel = $1 AND external_id = $2`, key, tmpl.ID).Scan(&st)
		return st == "sent"
	})
	step("template sent", chromedp.Reload(),
		chromedp.WaitVisible(chromedp.Search(outgoing(filled)+`//span[@data-testid='delivery'][.='sent']`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@data-testid='window'][@data-state='templates']`)),
		shot("12-whatsapp-template-sent"))
}

// waitSent waits for the emulator to have accepted n messages and returns
// the last.
func waitSent(t *testing.T, meta *metatest.Server, n int) metatest.Sent {
	t.Helper()
	waitUntil(t, fmt.Sprintf("message %d at the Graph API", n), func() bool { return len(meta.Sent()) >= n })
	sent := meta.Sent()
	if len(sent) != n {
		t.Fatalf("the Graph API received %d messages, want %d: %+v", len(sent), n, sent)
	}
	return sent[n-1]
}

// testClock is the app's clock, which a test can move forward.
type testClock struct{ ahead atomic.Int64 }

// Now is the time, plus how far the clock was moved.
func (c *testClock) Now() time.Time { return time.Now().Add(time.Duration(c.ahead.Load())) }

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) { c.ahead.Add(int64(d)) }

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
