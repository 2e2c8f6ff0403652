package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// TestWorkspaceExportInChromium: the owner finds Export in the settings,
// starts an export, sees it ready after a reload, and the browser fetches a
// range of it.
func TestWorkspaceExportInChromium(t *testing.T) {
	f := newFixture(t)
	br := newBrowserRun(t, "export")
	step, eval, shot := br.step, br.eval, br.shot

	step("sign in and open Settings → Export",
		chromedp.EmulateViewport(1366, 768),
		signIn(f.ts.URL, "owner@acme.example"),
		chromedp.WaitVisible(chromedp.CSS(".topbar")),
		chromedp.Navigate(f.ts.URL+"/settings/profile"),
		chromedp.Click(chromedp.CSS(`nav.subnav a[href="/settings/export"]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[contains(., 'Export the workspace')]`)),
	)
	step("start an export",
		chromedp.Click(chromedp.Search(`//button[contains(., 'Export the workspace')]`)),
		chromedp.WaitVisible(chromedp.Search(`//*[@data-testid='notice'][contains(., "Export started.")]`)),
	)
	var e *store.WorkspaceExport
	for deadline := time.Now().Add(time.Minute); e == nil; time.Sleep(100 * time.Millisecond) {
		list, err := f.srv.Exports.List(bg)
		if err != nil || len(list) != 1 || list[0].Status == store.ExportFailed {
			t.Fatalf("exports: %v %v", list, err)
		}
		if list[0].Status == store.ExportReady {
			e = list[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("the export is not ready after a minute")
		}
	}
	step("reload: ready, with a download link",
		chromedp.Navigate(f.ts.URL+"/settings/export"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`a[href="/settings/export/%d/download"]`, e.ID))),
		shot("export-ready"),
	)
	if got := eval(`document.querySelector('nav.subnav a[aria-current=page]').textContent`); got != "Export" {
		t.Errorf("the current settings section is %q", got)
	}
	// The first bytes, as a resuming browser asks for a range: a zip's signature.
	eval(`(function(){ window.__range = ""; const a = document.querySelector('a[href$="/download"]');
		fetch(a.href, {headers: {Range: "bytes=0-3"}}).then(r => r.arrayBuffer().then(b => {
			window.__range = r.status + " " + r.headers.get("Content-Range") + " " + Array.from(new Uint8Array(b)).join(","); }));
		return ""; })()`)
	got := ""
	for deadline := time.Now().Add(30 * time.Second); got == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got = eval(`window.__range`)
	}
	if want := fmt.Sprintf("206 bytes 0-3/%d 80,75,3,4", e.Size); got != want {
		t.Errorf("a range fetched in the browser: %q, want %q", got, want)
	}
}
