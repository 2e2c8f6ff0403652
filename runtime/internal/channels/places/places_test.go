package places_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/emulators/placestest"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels/places"
)

var bg = context.Background()

type reports struct {
	mu  sync.Mutex
	all []string
}

func (r *reports) add(state, code, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, strings.TrimSpace(state+" "+code+" "+message))
}

func (r *reports) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.all) == 0 {
		return ""
	}
	return r.all[len(r.all)-1]
}

func open(t *testing.T, g *placestest.Server, key string, config map[string]string, now func() time.Time) (*places.Adapter, *reports) {
	t.Helper()
	factory, ok := adapter.Lookup(places.Type)
	if !ok {
		t.Fatal("places registers no factory")
	}
	cfg := map[string]string{"apiBaseURL": g.URL}
	for k, v := range config {
		cfg[k] = v
	}
	rep := &reports{}
	a, err := factory(adapter.Deps{Name: "maps", Key: contract.ChannelKey(places.Type, "maps"),
		Info:        contract.ChannelInfo{Type: places.Type, UID: "u1", Config: cfg, CredentialsVersion: 1},
		Credentials: map[string]string{"apiKey": key}, HTTP: &http.Client{Timeout: 5 * time.Second}, Report: rep.add, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a.(*places.Adapter), rep
}

const session = "3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b"

func TestOneSessionIsAutocompletesThenDetails(t *testing.T) {
	g := placestest.New()
	defer g.Close()
	a, rep := open(t, g, g.APIKey, nil, nil)

	var last []places.Suggestion
	for _, in := range []string{"Bak", "Baker", "Baker Street"} {
		s, err := a.Autocomplete(bg, in, session)
		if err != nil {
			t.Fatal(err)
		}
		last = s
	}
	if len(last) != 1 || last[0].Main != "221B Baker Street" || last[0].Secondary != "London, UK" || last[0].Text != "221B Baker Street, London, UK" {
		t.Fatalf("suggestions %+v", last)
	}
	p, err := a.Details(bg, last[0].PlaceID, session)
	if err != nil {
		t.Fatal(err)
	}
	if p.Address != "221B Baker Street, London NW1 6XE, UK" || p.ID != last[0].PlaceID {
		t.Errorf("details %+v", p)
	}
	if got := g.Sessions()[session]; got != (placestest.Session{Autocompletes: 3, Details: 1}) {
		t.Errorf("session use %+v, want 3 autocompletes closed by 1 details", got)
	}
	reqs := g.Requests()
	for _, r := range reqs {
		if r.Key != g.APIKey || r.Session != session {
			t.Errorf("%s %s with key %q session %q", r.Method, r.Path, r.Key, r.Session)
		}
	}
	if d := reqs[len(reqs)-1]; d.Method != http.MethodGet || d.FieldMask != places.DetailsFieldMask {
		t.Errorf("details request %s with field mask %q, want %q", d.Method, d.FieldMask, places.DetailsFieldMask)
	}
	for _, r := range reqs[:3] {
		if r.FieldMask != "" || strings.Contains(r.Body, "locationBias") {
			t.Errorf("autocomplete with field mask %q body %s", r.FieldMask, r.Body)
		}
	}
	if rep.last() != contract.HealthConnected {
		t.Errorf("reported %q", rep.last())
	}
}

func TestInputChecked(t *testing.T) {
	g := placestest.New()
	defer g.Close()
	a, _ := open(t, g, g.APIKey, nil, nil)
	for name, call := range map[string]func() error{
		"bad session": func() error { _, err := a.Autocomplete(bg, "Baker", "not-a-uuid"); return err },
		"overlong input": func() error {
			_, err := a.Autocomplete(bg, strings.Repeat("x", places.MaxInput+1), session)
			return err
		},
		"invalid UTF-8":   func() error { _, err := a.Autocomplete(bg, "Bak\xff", session); return err },
		"bad place id":    func() error { _, err := a.Details(bg, "../../v1/places:autocomplete", session); return err },
		"details session": func() error { _, err := a.Details(bg, "ChIJabc", "x"); return err },
	} {
		if err := call(); !errors.Is(err, places.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if s, err := a.Autocomplete(bg, " ab ", session); err != nil || len(s) != 0 {
		t.Errorf("a two-letter input: %v, %v", s, err)
	}
	if n := len(g.Requests()); n != 0 {
		t.Errorf("%d requests reached Google for input refused locally", n)
	}
	if _, err := a.Details(bg, "ChIJunknown", session); !errors.Is(err, places.ErrInvalid) {
		t.Errorf("an unknown place: %v, want ErrInvalid", err)
	}
}

func TestErrors(t *testing.T) {
	g := placestest.New()
	defer g.Close()

	t.Run("unknown key", func(t *testing.T) {
		a, rep := open(t, g, "AIza-wrong-key-123", nil, nil)
		_, err := a.Autocomplete(bg, "Baker", session)
		if !errors.Is(err, places.ErrUnavailable) || errors.Is(err, places.ErrInvalid) {
			t.Fatalf("err %v, want ErrUnavailable", err)
		}
		if !strings.HasPrefix(rep.last(), "AuthFailed API_KEY_INVALID") {
			t.Errorf("reported %q", rep.last())
		}
		if strings.Contains(err.Error()+rep.last(), "wrong-key") {
			t.Error("the key leaked")
		}
	})
	t.Run("permission denied", func(t *testing.T) {
		a, rep := open(t, g, g.APIKey, nil, nil)
		g.FailWith("PERMISSION_DENIED")
		defer g.FailWith("")
		if _, err := a.Autocomplete(bg, "Baker", session); !errors.Is(err, places.ErrUnavailable) {
			t.Fatalf("err %v", err)
		}
		if !strings.HasPrefix(rep.last(), "AuthFailed PERMISSION_DENIED") || strings.Contains(rep.last(), g.APIKey) {
			t.Errorf("reported %q", rep.last())
		}
	})
	t.Run("quota", func(t *testing.T) {
		a, rep := open(t, g, g.APIKey, nil, nil)
		g.FailWith("RESOURCE_EXHAUSTED")
		if _, err := a.Details(bg, g.Places()[0].ID, session); !errors.Is(err, places.ErrUnavailable) {
			t.Fatalf("err %v", err)
		}
		if !strings.HasPrefix(rep.last(), "Unreachable RESOURCE_EXHAUSTED") {
			t.Errorf("reported %q", rep.last())
		}
		g.FailWith("")
		if _, err := a.Autocomplete(bg, "Baker", session); err != nil || rep.last() != contract.HealthConnected {
			t.Errorf("after the quota came back: %v, %q", err, rep.last())
		}
	})
	t.Run("no answer", func(t *testing.T) {
		dead := placestest.New()
		dead.Close()
		a, rep := open(t, dead, dead.APIKey, nil, nil)
		if _, err := a.Autocomplete(bg, "Baker", session); !errors.Is(err, places.ErrUnavailable) {
			t.Fatalf("err %v", err)
		}
		if !strings.HasPrefix(rep.last(), "Unreachable") {
			t.Errorf("reported %q", rep.last())
		}
	})
}

func TestBiasAroundTheBusiness(t *testing.T) {
	g := placestest.New()
	defer g.Close()
	home := g.Places()[2] // Paris
	a, rep := open(t, g, g.APIKey, map[string]string{"placeId": home.ID}, nil)
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for rep.last() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if rep.last() != contract.HealthConnected {
		t.Fatalf("Run reported %q", rep.last())
	}
	if r := g.Requests()[0]; r.FieldMask != "location" || r.Path != "/v1/places/"+home.ID || r.Session != "" {
		t.Errorf("Run asked %s with mask %q session %q", r.Path, r.FieldMask, r.Session)
	}
	if _, err := a.Autocomplete(bg, "Rivoli", session); err != nil {
		t.Fatal(err)
	}
	reqs := g.Requests()
	if body := reqs[len(reqs)-1].Body; !strings.Contains(body, `"locationBias":{"circle":{"center":{"latitude":48.8606111,"longitude":2.337644},"radius":50000}}`) {
		t.Errorf("autocomplete body %s has no bias around the business", body)
	}
	cancel()
	<-done

	if _, err := places.New(adapter.Deps{Info: contract.ChannelInfo{Config: map[string]string{"placeId": "bad id/"}}, Credentials: map[string]string{"apiKey": "k"}}); err == nil {
		t.Error("a malformed placeId was accepted")
	}
	if _, err := places.New(adapter.Deps{Info: contract.ChannelInfo{}, Credentials: map[string]string{}}); err == nil || !strings.Contains(err.Error(), "apiKey") {
		t.Errorf("no key: %v", err)
	}
}

func TestRateLimitPerUser(t *testing.T) {
	g := placestest.New()
	defer g.Close()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	a, _ := open(t, g, g.APIKey, nil, func() time.Time { return now })
	for i := range places.RateBurst {
		if !a.Allow("1") {
			t.Fatalf("request %d refused within the burst", i+1)
		}
	}
	if a.Allow("1") {
		t.Error("the burst was exceeded")
	}
	if !a.Allow("2") {
		t.Error("another user was limited")
	}
	now = now.Add(places.RateEvery)
	if !a.Allow("1") || a.Allow("1") {
		t.Error("one request per RateEvery after the burst")
	}
}

func TestClose(t *testing.T) {
	g := placestest.New()
	defer g.Close()
	a, _ := open(t, g, g.APIKey, nil, nil)
	if c := a.Credentials(); len(c) != 1 || c[0] != g.APIKey {
		t.Fatal("Credentials before Close")
	}
	a.Close()
	if a.Credentials() != nil {
		t.Error("the key stayed after Close")
	}
	if _, err := a.Autocomplete(bg, "Baker", session); !errors.Is(err, places.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
