package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/emulators/placestest"
	"github.com/switchboard-dev/switchboard/runtime/emulators/shopifytest"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels/places"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels/shopify"
	"github.com/switchboard-dev/switchboard/runtime/internal/integrations"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// adapterSet is the Manager as the web layer sees it, holding adapters
// built by their registered factories.
type adapterSet struct {
	mu     sync.Mutex
	byName map[string]adapter.Adapter
	types  map[string]string
	health map[string]string // name -> "state code message"
}

func newAdapterSet() *adapterSet {
	return &adapterSet{byName: map[string]adapter.Adapter{}, types: map[string]string{}, health: map[string]string{}}
}

// open builds an Integration's adapter as the Manager would.
func (s *adapterSet) open(t *testing.T, name, typ string, config, creds map[string]string) adapter.Adapter {
	t.Helper()
	factory, ok := adapter.Lookup(typ)
	if !ok {
		t.Fatalf("no factory for %s", typ)
	}
	a, err := factory(adapter.Deps{Name: name, Key: contract.ChannelKey(typ, name),
		Info:        contract.ChannelInfo{Type: typ, UID: "uid-" + name, Config: config, CredentialsVersion: 1},
		Credentials: creds, HTTP: &http.Client{Timeout: 5 * time.Second},
		Report: func(state, code, message string) {
			s.mu.Lock()
			s.health[name] = strings.TrimSpace(state + " " + code + " " + message)
			s.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	s.mu.Lock()
	s.byName[name], s.types[name] = a, typ
	s.mu.Unlock()
	return a
}

func (s *adapterSet) reported(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health[name]
}

func (s *adapterSet) Statuses() []integrations.Status { return nil }

func (s *adapterSet) Get(name string) (adapter.Adapter, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byName[name]
	return a, ok
}

func (s *adapterSet) OfType(t string) []adapter.Adapter {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []adapter.Adapter
	for name, typ := range s.types {
		if typ == t {
			out = append(out, s.byName[name])
		}
	}
	return out
}

func pageText(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOrdersSidebar: the conversation page loads the contact's recent
// Shopify orders as a separate fragment; an order webhook refreshes them;
// a failure shows as "Shopify unavailable" with no detail.
func TestOrdersSidebar(t *testing.T) {
	f := newFixture(t)
	shop := shopifytest.New("")
	defer shop.Close()
	// The fixture's contact wrote from +15550100.
	ada := shop.AddCustomer(shopifytest.Customer{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Phone: "+15550100"})
	start := time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC)
	var orders []shopifytest.Order
	for i := range 6 {
		orders = append(orders, shop.AddOrder(shopifytest.Order{CustomerID: ada.ID, CreatedAt: start.Add(time.Duration(i) * time.Hour),
			FinancialStatus: "PAID", FulfillmentStatus: "UNFULFILLED", Total: "12.5", Currency: "EUR"}))
	}

	conv := fmt.Sprint(f.convID)
	sidebar := "/inbox/conversations/" + conv + "/orders?fragment=orders"
	if page := pageText(t, f.do(auth.Viewer, http.MethodGet, "/inbox/conversations/"+conv, nil, false)); strings.Contains(page, "/orders") {
		t.Error("without a Shopify Integration the sidebar still loads orders")
	}

	set := newAdapterSet()
	sa := set.open(t, "store", shopify.Type, map[string]string{"shopDomain": shop.Shop, "apiBaseURL": shop.URL},
		map[string]string{"accessToken": shop.AccessToken, "clientSecret": shop.ClientSecret}).(*shopify.Adapter)
	f.srv.Integrations = set

	page := pageText(t, f.do(auth.Viewer, http.MethodGet, "/inbox/conversations/"+conv, nil, false))
	if !strings.Contains(page, `hx-get="`+sidebar+`"`) || !strings.Contains(page, `hx-trigger="load"`) {
		t.Fatalf("the conversation page does not load the orders fragment:\n%s", excerptAround(page, "contact-panel"))
	}
	if n := len(shop.Calls()); n != 0 {
		t.Errorf("the page itself called Shopify %d times", n)
	}

	resp := f.do(auth.Viewer, http.MethodGet, sidebar, nil, false)
	frag := pageText(t, resp)
	if resp.StatusCode != http.StatusOK || strings.Contains(frag, "<html") {
		t.Fatalf("fragment: %d\n%s", resp.StatusCode, frag)
	}
	if n := strings.Count(frag, `data-testid="order"`); n != shopify.MaxOrders {
		t.Errorf("%d orders shown, want %d", n, shopify.MaxOrders)
	}
	newest := orders[len(orders)-1]
	for _, want := range []string{newest.Name, "1 Apr 2025", "paid", "unfulfilled", "12.50 EUR"} {
		if !strings.Contains(frag, want) {
			t.Errorf("the fragment lacks %q:\n%s", want, frag)
		}
	}
	if strings.Contains(frag, orders[0].Name+"<") {
		t.Errorf("the oldest order %s is shown: more than %d", orders[0].Name, shopify.MaxOrders)
	}
	if strings.Contains(frag, shop.AccessToken) || strings.Contains(page, shop.AccessToken) {
		t.Error("the access token reached the browser")
	}

	// The contact page has the same fragment.
	contact := fmt.Sprint(f.contactOf(t, f.convID))
	cpage := pageText(t, f.do(auth.Viewer, http.MethodGet, "/contacts/"+contact, nil, false))
	if !strings.Contains(cpage, `hx-get="/contacts/`+contact+`/orders?fragment=orders"`) {
		t.Error("the contact page does not load the orders fragment")
	}
	if c := pageText(t, f.do(auth.Viewer, http.MethodGet, "/contacts/"+contact+"/orders?fragment=orders", nil, false)); !strings.Contains(c, newest.Name) {
		t.Errorf("the contact's orders fragment:\n%s", c)
	}

	t.Run("an order webhook refreshes the sidebar", func(t *testing.T) {
		hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			status, _, answer, err := sa.ServeWebhook(r.Context(), r, body)
			var rej *adapter.Reject
			if errors.As(err, &rej) {
				status = rej.Status
			} else if err != nil {
				status = http.StatusInternalServerError
			}
			w.WriteHeader(status)
			_, _ = w.Write(answer)
		}))
		defer hooks.Close()
		shop.UpdateOrder(newest.ID, func(o *shopifytest.Order) { o.FulfillmentStatus = "FULFILLED" })
		// Still cached: the sidebar shows what it showed.
		if frag := pageText(t, f.do(auth.Viewer, http.MethodGet, sidebar, nil, false)); strings.Contains(frag, ">fulfilled<") {
			t.Fatal("the cache did not answer")
		}
		forged, _ := shop.OrderDelivery("orders/fulfilled", newest.ID)
		forged.Signature = shopifytest.Sign("guess", forged.Body)
		if status, err := shop.Deliver(hooks.URL, forged); err != nil || status != http.StatusUnauthorized {
			t.Fatalf("a forged webhook: %d, %v", status, err)
		}
		if frag := pageText(t, f.do(auth.Viewer, http.MethodGet, sidebar, nil, false)); strings.Contains(frag, ">fulfilled<") {
			t.Fatal("a forged webhook refreshed the orders")
		}
		if status, err := shop.SendOrderWebhook(hooks.URL, "orders/fulfilled", newest.ID); err != nil || status != http.StatusOK {
			t.Fatalf("webhook: %d, %v", status, err)
		}
		if frag := pageText(t, f.do(auth.Viewer, http.MethodGet, sidebar, nil, false)); !strings.Contains(frag, ">fulfilled<") {
			t.Errorf("after the webhook the newest order is still not fulfilled:\n%s", frag)
		}
	})

	t.Run("Shopify unavailable", func(t *testing.T) {
		bad := newAdapterSet()
		bad.open(t, "store", shopify.Type, map[string]string{"shopDomain": shop.Shop, "apiBaseURL": shop.URL},
			map[string]string{"accessToken": "shpat_revoked-token-0123", "clientSecret": shop.ClientSecret})
		f.srv.Integrations = bad
		defer func() { f.srv.Integrations = set }()
		frag := pageText(t, f.do(auth.Viewer, http.MethodGet, sidebar, nil, false))
		if !strings.Contains(frag, "Shopify unavailable") || strings.Contains(frag, "revoked-token") || strings.Contains(frag, "401") {
			t.Errorf("a refused token shows:\n%s", frag)
		}
		if got := bad.reported("store"); got != "AuthFailed 401 Shopify refused the access token" {
			t.Errorf("reported %q", got)
		}
	})

	t.Run("restricted contact", func(t *testing.T) {
		id := f.contactOf(t, f.convID)
		if _, err := f.st.SetContactConsent(bg, nil, id, store.Consent{ProcessingRestricted: ptrBool(true), Source: "agent"}); err != nil {
			t.Fatal(err)
		}
		defer f.st.SetContactConsent(bg, nil, id, store.Consent{ProcessingRestricted: ptrBool(false), Source: "agent"})
		fresh := newAdapterSet() // nothing cached: a lookup would reach the shop
		fresh.open(t, "store", shopify.Type, map[string]string{"shopDomain": shop.Shop, "apiBaseURL": shop.URL},
			map[string]string{"accessToken": shop.AccessToken, "clientSecret": shop.ClientSecret})
		f.srv.Integrations = fresh
		defer func() { f.srv.Integrations = set }()
		before := len(shop.Calls())
		frag := pageText(t, f.do(auth.Viewer, http.MethodGet, sidebar, nil, false))
		if !strings.Contains(frag, "not looked up") || len(shop.Calls()) != before {
			t.Errorf("a restricted contact's orders were looked up:\n%s", frag)
		}
	})
}

func ptrBool(b bool) *bool { return &b }

func (f *fixture) contactOf(t *testing.T, conv int64) int64 {
	t.Helper()
	c, err := f.st.ConversationByID(bg, nil, conv)
	if err != nil {
		t.Fatal(err)
	}
	return c.ContactID
}

func excerptAround(page, marker string) string {
	i := strings.Index(page, marker)
	if i < 0 {
		return page[:min(len(page), 2000)]
	}
	return page[i:min(len(page), i+2000)]
}

// TestPlacesProxy: address autocomplete goes through the runtime, which
// adds the key; the browser gets suggestions and the address, never the
// key; one session token is N autocompletes and one details request.
func TestPlacesProxy(t *testing.T) {
	f := newFixture(t)
	g := placestest.New()
	defer g.Close()
	contact := fmt.Sprint(f.contactOf(t, f.convID))

	// No googlePlaces Integration: a plain address field, and no proxy.
	page := pageText(t, f.do(auth.Agent, http.MethodGet, "/contacts/"+contact, nil, false))
	if !strings.Contains(page, `name="address"`) || strings.Contains(page, "data-places") {
		t.Fatal("without Places the address field is not a plain input")
	}
	if resp := f.do(auth.Agent, http.MethodGet, "/places/autocomplete?q=Baker&session=3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b", nil, false); resp.StatusCode != http.StatusNotFound {
		t.Errorf("autocomplete without Places: %d", resp.StatusCode)
	}

	set := newAdapterSet()
	set.open(t, "maps", places.Type, map[string]string{"apiBaseURL": g.URL}, map[string]string{"apiKey": g.APIKey})
	f.srv.Integrations = set

	for _, path := range []string{"/contacts/" + contact, "/contacts/new", "/companies"} {
		page := pageText(t, f.do(auth.Agent, http.MethodGet, path, nil, false))
		if !strings.Contains(page, "data-places") {
			t.Errorf("%s: the address field has no autocomplete", path)
		}
		if strings.Contains(page, g.APIKey) {
			t.Errorf("%s: the page holds the API key", path)
		}
	}
	if js := pageText(t, f.do("", http.MethodGet, "/static/app.js", nil, false)); !strings.Contains(js, "/places/autocomplete") || !strings.Contains(js, "randomUUID") {
		t.Error("app.js does not drive the address field")
	}

	session := "6d1c3b8e-2f4a-4c1d-9e7b-0a1b2c3d4e5f"
	var last struct {
		Suggestions []places.Suggestion `json:"suggestions"`
	}
	for _, q := range []string{"Bak", "Baker", "Baker St"} {
		resp := f.do(auth.Agent, http.MethodGet, "/places/autocomplete?"+url.Values{"q": {q}, "session": {session}}.Encode(), nil, false)
		body := pageText(t, resp)
		if resp.StatusCode != http.StatusOK || strings.Contains(body, g.APIKey) {
			t.Fatalf("autocomplete %q: %d %s", q, resp.StatusCode, body)
		}
		if err := json.Unmarshal([]byte(body), &last); err != nil {
			t.Fatal(err)
		}
	}
	if len(last.Suggestions) != 1 || last.Suggestions[0].Main != "221B Baker Street" {
		t.Fatalf("suggestions %+v", last.Suggestions)
	}
	resp := f.do(auth.Agent, http.MethodGet, "/places/details?"+url.Values{"id": {last.Suggestions[0].PlaceID}, "session": {session}}.Encode(), nil, false)
	body := pageText(t, resp)
	if resp.StatusCode != http.StatusOK || body != `{"address":"221B Baker Street, London NW1 6XE, UK"}`+"\n" {
		t.Fatalf("details: %d %s", resp.StatusCode, body)
	}
	if got := g.Sessions()[session]; got != (placestest.Session{Autocompletes: 3, Details: 1}) {
		t.Errorf("session %+v, want 3 autocompletes and 1 details", got)
	}
	for _, r := range g.Requests() {
		if r.Key != g.APIKey || r.Session != session {
			t.Errorf("%s %s reached Google with key %q session %q", r.Method, r.Path, r.Key, r.Session)
		}
		if r.Method == http.MethodGet && r.FieldMask != places.DetailsFieldMask {
			t.Errorf("details with field mask %q", r.FieldMask)
		}
	}

	// The picked address is saved with the contact and shown.
	form := url.Values{"name": {"Ada Lovelace"}, "phones": {"+15550100"}, "address": {"221B Baker Street, London NW1 6XE, UK"}}
	if resp := f.do(auth.Agent, http.MethodPost, "/contacts/"+contact, form, false); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving the contact: %d %s", resp.StatusCode, pageText(t, resp))
	}
	if page := pageText(t, f.do(auth.Viewer, http.MethodGet, "/contacts/"+contact, nil, false)); !strings.Contains(page, "221B Baker Street, London NW1 6XE, UK") {
		t.Error("the contact page does not show the address")
	}
	if page := pageText(t, f.do(auth.Viewer, http.MethodGet, "/inbox/conversations/"+fmt.Sprint(f.convID), nil, false)); !strings.Contains(page, "221B Baker Street") {
		t.Error("the conversation sidebar does not show the address")
	}
	// A form without the field leaves it.
	if resp := f.do(auth.Agent, http.MethodPost, "/contacts/"+contact, url.Values{"name": {"Ada L."}, "phones": {"+15550100"}}, false); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving the contact: %d", resp.StatusCode)
	}
	if c, _ := f.st.ContactByID(bg, nil, f.contactOf(t, f.convID)); c.Address != "221B Baker Street, London NW1 6XE, UK" {
		t.Errorf("address now %q", c.Address)
	}
	if resp := f.do(auth.Agent, http.MethodPost, "/companies", url.Values{"name": {"Acme"}, "address": {"Unter den Linden 77, 10117 Berlin, Germany"}}, false); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("creating a company: %d", resp.StatusCode)
	}
	if page := pageText(t, f.do(auth.Viewer, http.MethodGet, "/companies", nil, false)); !strings.Contains(page, "Unter den Linden 77") {
		t.Error("the companies page does not show the address")
	}

	t.Run("refused", func(t *testing.T) {
		for name, c := range map[string]struct {
			role   auth.Role
			query  string
			status int
		}{
			"viewer":        {auth.Viewer, "q=Baker&session=" + session, http.StatusForbidden},
			"bad session":   {auth.Agent, "q=Baker&session=abc", http.StatusBadRequest},
			"no session":    {auth.Agent, "q=Baker", http.StatusBadRequest},
			"overlong":      {auth.Agent, "q=" + strings.Repeat("a", 300) + "&session=" + session, http.StatusBadRequest},
			"bad place id":  {auth.Agent, "id=..%2Fx&session=" + session, http.StatusBadRequest},
			"unknown place": {auth.Agent, "id=ChIJnothere&session=" + session, http.StatusBadRequest},
		} {
			path := "/places/autocomplete?"
			if strings.Contains(c.query, "id=") {
				path = "/places/details?"
			}
			if resp := f.do(c.role, http.MethodGet, path+c.query, nil, false); resp.StatusCode != c.status {
				t.Errorf("%s: %d, want %d", name, resp.StatusCode, c.status)
			}
		}
	})

	t.Run("Google refuses", func(t *testing.T) {
		for _, status := range []string{"PERMISSION_DENIED", "RESOURCE_EXHAUSTED"} {
			g.FailWith(status)
			resp := f.do(auth.Agent, http.MethodGet, "/places/autocomplete?q=Baker&session="+session, nil, false)
			body := pageText(t, resp)
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "address lookup unavailable") ||
				strings.Contains(body, status) || strings.Contains(body, "Quota") || strings.Contains(body, g.APIKey) {
				t.Errorf("%s: %d %s", status, resp.StatusCode, body)
			}
		}
		g.FailWith("")
		g.FailWith("PERMISSION_DENIED")
		f.do(auth.Agent, http.MethodGet, "/places/autocomplete?q=Baker&session="+session, nil, false)
		g.FailWith("")
		if got := set.reported("maps"); !strings.HasPrefix(got, "AuthFailed PERMISSION_DENIED") {
			t.Errorf("reported %q", got)
		}
	})

	t.Run("rate limited per member", func(t *testing.T) {
		limited := false
		for range places.RateBurst + 5 {
			if resp := f.do(auth.Owner, http.MethodGet, "/places/autocomplete?q=Ba&session="+session, nil, false); resp.StatusCode == http.StatusTooManyRequests {
				limited = true
				break
			}
		}
		if !limited {
			t.Error("no limit on address lookups")
		}
		if resp := f.do(auth.Admin, http.MethodGet, "/places/autocomplete?q=Ba&session="+session, nil, false); resp.StatusCode != http.StatusOK {
			t.Errorf("another member was limited: %d", resp.StatusCode)
		}
	})
}
