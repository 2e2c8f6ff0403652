package web

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

func TestLoadZone(t *testing.T) {
	for name, ok := range map[string]bool{
		"Europe/Berlin": true, "America/Argentina/Buenos_Aires": true, "Etc/GMT+3": true, "UTC": true,
		"": false, "Local": false, "Mars/Olympus": false, "../../etc/passwd": false, "Europe/Berlin\x00": false,
		strings.Repeat("A", 65): false,
	} {
		if got := loadZone(name) != nil; got != ok {
			t.Errorf("loadZone(%q) = %t, want %t", name, got, ok)
		}
	}
}

func TestLocaltime(t *testing.T) {
	berlin := loadZone("Europe/Berlin")
	at := time.Date(2026, 1, 15, 8, 0, 0, 0, time.UTC)
	if got := localtime(berlin, at); got != "15 Jan 2026 09:00 CET" {
		t.Errorf("localtime = %q", got)
	}
	if got := localtime(berlin, &at); got != "15 Jan 2026 09:00 CET" {
		t.Errorf("localtime of a pointer = %q", got)
	}
	var none *time.Time
	if got := localtime(berlin, none); got != "" {
		t.Errorf("localtime(nil) = %q", got)
	}
	if got := localtime(nil, at); got != "15 Jan 2026 08:00 UTC" {
		t.Errorf("localtime without a zone = %q", got)
	}
	now := time.Now()
	if got, want := localtime(berlin, now), now.In(berlin).Format("15:04"); got != want {
		t.Errorf("today: %q, want %q", got, want)
	}
	if got := localinput(berlin, at); got != "2026-01-15T09:00" {
		t.Errorf("localinput = %q", got)
	}
	got, err := parseLocalInput(berlin, "2026-12-03T09:00")
	if err != nil || !got.Equal(time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("parseLocalInput = %v, %v", got, err)
	}
	if _, err := parseLocalInput(berlin, "tomorrow"); err == nil {
		t.Error("parseLocalInput took a word")
	}
}

// TestTimeZoneShown: a stored UTC time is shown in the member's profile
// zone, else in their browser's (the tz cookie), else in UTC.
func TestTimeZoneShown(t *testing.T) {
	f := newFixture(t)
	if _, err := f.st.Pool.Exec(bg, `INSERT INTO audit_log (at, actor_kind, action, object_type, object_id)
		VALUES ('2026-01-15 08:00:00+00', 'system', 'test.zone', 'user', '1')`); err != nil {
		t.Fatal(err)
	}
	page := func(cookie string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/audit?action=test.zone", nil)
		req.AddCookie(f.sessions[auth.Owner])
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: tzCookie, Value: cookie})
		}
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /audit: %d", resp.StatusCode)
		}
		return string(b)
	}
	if p := page(""); !strings.Contains(p, "15 Jan 2026 08:00 UTC") {
		t.Error("without a zone, the time is not shown in UTC")
	}
	if p := page("Mars/Olympus"); !strings.Contains(p, "15 Jan 2026 08:00 UTC") {
		t.Error("with an unknown browser zone, the time is not shown in UTC")
	}
	if p := page("America/New_York"); !strings.Contains(p, "15 Jan 2026 03:00 EST") {
		t.Error("the browser's zone is not used")
	}
	if err := f.srv.Users.SetProfile(bg, f.users[auth.Owner].ID, "Owner", "Europe/Berlin"); err != nil {
		t.Fatal(err)
	}
	if p := page("America/New_York"); !strings.Contains(p, "15 Jan 2026 09:00 CET") {
		t.Error("a Berlin member does not see the time in Berlin time")
	}
}
