package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// TestPrivacyPageWithoutJavaScript: a visitor whose browser runs no script,
// on a phone, reads the privacy facts at /privacy (the retention of each
// category, backups, credentials, the region, the connected providers and
// the deadline), files an erasure request with the plain form, and lands on
// the request's status page, which shows it open; the request is in the
// store, due after the deadline. Screenshots of the page at 390 and 1366 px, and of where the
// form leads, go to artifacts/browser.
func TestPrivacyPageWithoutJavaScript(t *testing.T) {
	f := newFixture(t)
	f.srv.DisplayName = "Acme Inc."
	f.srv.Retention = RetentionSettings{Categories: "conversations=730d:Delete,usageEvents=1095d:Anonymize", DSRDeadline: "14d",
		BackupRetainFor: "35d", BackupAfterDeletion: "60d", CredentialsAfterDisconnect: "72h", Region: "EU (Frankfurt)"}
	f.srv.Integrations = connectedForPrivacy
	// The server notes how the form arrived: forms.js posts with
	// X-Switchboard-Form, a browser without script posts the plain form.
	var posts, scripted atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/privacy/requests" {
			posts.Add(1)
			if r.Header.Get("X-Switchboard-Form") != "" {
				scripted.Add(1)
			}
		}
		f.srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)

	br := newBrowserRun(t, "privacy")
	step, shot := br.step, br.shot
	noScript := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(br.ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return strings.Join(strings.Fields(s), " ")
	}

	t.Log("1. the facts, on a phone with scripts off")
	step("open the page", noScript,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(ts.URL+"/privacy"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=privacy-rights]`)),
		shot("privacy-390"),
	)
	for sel, wants := range map[string][]string{
		"[data-testid=privacy-categories]": {"Conversations and their messages", "730 days after the last activity, then deleted",
			"1095 days, then kept without anything that identifies a person", "kept until deleted"},
		"[data-testid=privacy-backups]": {"Backups are kept for 35 days", "kept for 60 days more", "kept for 72 hours"},
		"[data-testid=privacy-where]":   {"EU (Frankfurt)", "Meta", "Telnyx", "Shopify", "Google", "own mail provider"},
		"[data-testid=privacy-rights]":  {"answered within 14 days", "Send the request"},
	} {
		got := text(sel)
		for _, want := range wants {
			if !strings.Contains(got, want) {
				t.Errorf("%s does not show %q: %s", sel, want, got)
			}
		}
		for _, never := range []string{"wa-support-line", "sms-main", "acme-shop", "4711-0815", "Microsoft", "Stripe"} {
			if strings.Contains(got, never) {
				t.Errorf("%s shows %q", sel, never)
			}
		}
	}
	if w := text("body"); strings.Contains(w, "wa-support-line") {
		t.Error("the page names an Integration")
	}
	var contentW, viewW float64
	step("fits the phone", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		// Layout metrics come from the protocol, not from a script.
		m, err := cdp.Call(ctx, tg, cdppage.GetLayoutMetrics, cdp.Empty{})
		if err == nil {
			contentW, viewW = m.CSSContentSize.Width, float64(m.CSSLayoutViewport.ClientWidth)
		}
		return err
	}))
	if contentW > viewW {
		t.Errorf("at 390 px the page scrolls sideways: content %.0f px wide in a %.0f px viewport", contentW, viewW)
	}
	step("wide", chromedp.EmulateViewport(1366, 900), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-testid=privacy-rights]`)), shot("privacy-1366"))

	t.Log("2. an erasure request with the plain form")
	step("file the request", chromedp.EmulateViewport(390, 844),
		chromedp.SetValue(chromedp.ID("#privacy-kind"), "erasure"),
		chromedp.SendKeys(chromedp.ID("#privacy-email"), "visitor@example.org"),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Send the request')]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-testid=privacy-request-form]`)),
		shot("privacy-request-filed"),
	)
	loc, err := chromedp.Run(br.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(loc)
	if u.Path != "/privacy/status" || u.Query().Get("id") == "" {
		t.Fatalf("the form led to %s, want /privacy/status?id=<code>", loc)
	}
	if posts.Load() != 1 || scripted.Load() != 0 {
		t.Errorf("%d posts, %d by script: want one plain post", posts.Load(), scripted.Load())
	}
	req, err := f.st.PrivacyRequestByCode(bg, u.Query().Get("id"))
	if err != nil {
		t.Fatalf("the request behind the status page: %v", err)
	}
	if req.Kind != store.RequestErasure || req.Source != store.SourcePublic || req.Requester != "visitor@example.org" ||
		req.DueAt.Sub(req.ReceivedAt).Hours() != 14*24 {
		t.Errorf("request = %+v", req)
	}
	if h := text("main"); !strings.Contains(h, "Your erasure request") || !strings.Contains(h, "Open") {
		t.Errorf("the status page does not show the open erasure request: %s", h)
	}
}
