package web

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-dev/switchboard/test/harness"
)

// browserArtifacts is where browser tests write screenshots:
// $SWITCHBOARD_ARTIFACTS, or artifacts/browser.
func browserArtifacts(t *testing.T) string {
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

// browserRun is one Chromium for a browser test, with the steps every such
// test takes: run actions (a screenshot named failed-<prefix>-<step> on
// failure), evaluate JavaScript, and write screenshots.
type browserRun struct {
	t      *testing.T
	ctx    context.Context
	shots  string
	prefix string
}

func newBrowserRun(t *testing.T, prefix string) *browserRun {
	return &browserRun{t: t, ctx: chromiumContext(t), shots: browserArtifacts(t), prefix: prefix}
}

// step runs actions within 30 s, or fails the test.
func (b *browserRun) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		buf, _ := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		_ = os.WriteFile(filepath.Join(b.shots, "failed-"+b.prefix+"-"+strings.ReplaceAll(name, " ", "-")+".png"), buf, 0o644)
		b.t.Fatalf("%s: %v", name, err)
	}
}

// eval evaluates js to a string, or fails the test.
func (b *browserRun) eval(js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return s
}

// shot writes the whole page as name.png.
func (b *browserRun) shot(name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		buf, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(b.shots, name+".png"), buf, 0o644)
	}
}

// signIn opens base's sign-in page and signs in as the member with email
// (every fixture member's password is password-for-tests); the caller
// waits for the page it expects next.
func signIn(base, email string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		for _, a := range []chromedp.Action[chromedp.Void]{
			chromedp.Navigate(base + "/login"),
			chromedp.WaitVisible(chromedp.ID("#email")),
			chromedp.SendKeys(chromedp.ID("#email"), email),
			chromedp.SendKeys(chromedp.ID("#password"), "password-for-tests"),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		} {
			if _, err := a(ctx, tg); err != nil {
				return chromedp.Void{}, err
			}
		}
		return chromedp.Void{}, nil
	}
}
