package shopify_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/emulators/shopifytest"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels/shopify"
)

var bg = context.Background()

// reports records what an adapter reported.
type reports struct {
	mu  sync.Mutex
	all []string // "state code message"
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

func (r *reports) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.all, "\n")
}

// open builds the adapter through its registered factory, as the Manager
// does, against the emulated shop.
func open(t *testing.T, shop *shopifytest.Server, token string) (*shopify.Adapter, *reports) {
	t.Helper()
	factory, ok := adapter.Lookup(shopify.Type)
	if !ok {
		t.Fatal("shopify registers no factory")
	}
	rep := &reports{}
	a, err := factory(adapter.Deps{
		Name: "store", Key: contract.ChannelKey(shopify.Type, "store"),
		Info:        contract.ChannelInfo{Type: shopify.Type, UID: "u1", Config: map[string]string{"shopDomain": shop.Shop, "apiBaseURL": shop.URL}, CredentialsVersion: 1},
		Credentials: map[string]string{"accessToken": token, "clientSecret": shop.ClientSecret},
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)), HTTP: &http.Client{Timeout: 10 * time.Second},
		Report: rep.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a.(*shopify.Adapter), rep
}

// webhookURL serves the adapter's webhooks as package integrations does:
// the raw body to ServeWebhook, a Reject answered with its status.
func webhookURL(t *testing.T, a *shopify.Adapter) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, adapter.MaxWebhookBody))
		status, ctype, answer, err := a.ServeWebhook(r.Context(), r, body)
		var rej *adapter.Reject
		switch {
		case errors.As(err, &rej):
			http.Error(w, rej.Reason, rej.Status)
		case err != nil:
			http.Error(w, "internal", http.StatusInternalServerError)
		default:
			w.Header().Set("Content-Type", ctype)
			w.WriteHeader(status)
			_, _ = w.Write(answer)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/webhooks/shopify/store"
}

// seedAda gives the shop a customer with seven orders, the newest last.
func seedAda(shop *shopifytest.Server) (shopifytest.Customer, []shopifytest.Order) {
	c := shop.AddCustomer(shopifytest.Customer{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Phone: "+442079460000"})
	var orders []shopifytest.Order
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range 7 {
		orders = append(orders, shop.AddOrder(shopifytest.Order{CustomerID: c.ID, CreatedAt: start.Add(time.Duration(i) * 24 * time.Hour),
			FinancialStatus: "PAID", FulfillmentStatus: "UNFULFILLED", Total: "12.5", Currency: "EUR"}))
	}
	return c, orders
}

func TestRecentOrders(t *testing.T) {
	shop := shopifytest.New("")
	defer shop.Close()
	ada, orders := seedAda(shop)
	shop.AddCustomer(shopifytest.Customer{FirstName: "Bob", Email: "bob@example.com"})
	a, rep := open(t, shop, shop.AccessToken)

	got, err := a.RecentOrders(bg, []string{"Ada@Example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.CustomerID != ada.GID() || got.CustomerName != "Ada Lovelace" {
		t.Fatalf("matched %q %q, want Ada", got.CustomerID, got.CustomerName)
	}
	if len(got.Orders) != shopify.MaxOrders {
		t.Fatalf("%d orders, want the %d most recent", len(got.Orders), shopify.MaxOrders)
	}
	newest := orders[len(orders)-1]
	o := got.Orders[0]
	if o.Name != newest.Name || !o.CreatedAt.Equal(newest.CreatedAt) || o.Financial() != "paid" || o.Fulfillment() != "unfulfilled" ||
		o.Total() != "12.50 EUR" || o.AdminURL != "https://acme.myshopify.com/admin/orders/"+strings.TrimPrefix(newest.GID(), "gid://shopify/Order/") {
		t.Errorf("newest order %+v (total %q), want %+v", o, o.Total(), newest)
	}
	if got.Orders[4].Name != orders[2].Name {
		t.Errorf("fifth order %s, want %s", got.Orders[4].Name, orders[2].Name)
	}
	if rep.last() != contract.HealthConnected {
		t.Errorf("reported %q, want Connected", rep.text())
	}
	calls := shop.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d GraphQL calls, want a customer search and an orders query", len(calls))
	}
	for _, c := range calls {
		if c.Version != shopify.APIVersion || c.Token != shop.AccessToken {
			t.Errorf("call on version %q with token %q", c.Version, c.Token)
		}
	}
	if q := calls[0].Variables["q"]; q != `email:"ada@example.com"` {
		t.Errorf("customer search %v", q)
	}

	// Cached: no more calls.
	if _, err := a.RecentOrders(bg, []string{"ada@example.com"}, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(shop.Calls()); n != 2 {
		t.Errorf("a second look made %d calls in all; the cache should have answered", n)
	}

	t.Run("by phone when no email matches", func(t *testing.T) {
		got, err := a.RecentOrders(bg, []string{"someone-else@example.com"}, []string{"+44 20 7946 0000"})
		if err != nil {
			t.Fatal(err)
		}
		if got.CustomerID != ada.GID() || len(got.Orders) != 5 {
			t.Errorf("by phone: %+v", got)
		}
	})
	t.Run("no customer", func(t *testing.T) {
		got, err := a.RecentOrders(bg, []string{"nobody@example.com"}, []string{"+15550100"})
		if err != nil || got.CustomerID != "" || len(got.Orders) != 0 {
			t.Errorf("no match: %+v, %v", got, err)
		}
	})
	t.Run("nothing to match by", func(t *testing.T) {
		before := len(shop.Calls())
		got, err := a.RecentOrders(bg, nil, nil)
		if err != nil || got.CustomerID != "" || len(shop.Calls()) != before {
			t.Errorf("no identifiers: %+v, %v, calls %d -> %d", got, err, before, len(shop.Calls()))
		}
	})
}

func TestAccessTokenRefused(t *testing.T) {
	shop := shopifytest.New("")
	defer shop.Close()
	seedAda(shop)
	a, rep := open(t, shop, "shpat_wrong-token-0123456789")
	_, err := a.RecentOrders(bg, []string{"ada@example.com"}, nil)
	if !errors.Is(err, shopify.ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "wrong-token") || strings.Contains(rep.text(), "wrong-token") {
		t.Errorf("the token leaked: %v / %s", err, rep.text())
	}
	if rep.last() != "AuthFailed 401 Shopify refused the access token" {
		t.Errorf("reported %q", rep.text())
	}

	// Run checks the token at start and reports the same.
	a2, rep2 := open(t, shop, "shpat_other-wrong")
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() { a2.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for rep2.last() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.HasPrefix(rep2.last(), "AuthFailed 401") {
		t.Errorf("Run reported %q", rep2.text())
	}
	cancel()
	<-done
}

func TestRunReportsConnected(t *testing.T) {
	shop := shopifytest.New("")
	defer shop.Close()
	a, rep := open(t, shop, shop.AccessToken)
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for rep.last() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if rep.last() != contract.HealthConnected {
		t.Errorf("reported %q", rep.text())
	}
	select {
	case <-done:
		t.Fatal("Run returned before its context ended")
	default:
	}
	cancel()
	<-done
}

func TestThrottled(t *testing.T) {
	shop := shopifytest.New("")
	defer shop.Close()
	seedAda(shop)
	a, _ := open(t, shop, shop.AccessToken)

	// An empty bucket that refills fast: the lookup waits and succeeds.
	shop.SetBucket(1000, 0, 100)
	got, err := a.RecentOrders(bg, []string{"ada@example.com"}, nil)
	if err != nil || len(got.Orders) != 5 {
		t.Fatalf("after a short throttle: %+v, %v", got, err)
	}
	// Each query is refused once at most, then sent again after the refill.
	calls := shop.Calls()
	throttled := 0
	for i, c := range calls {
		if !c.Throttled {
			continue
		}
		throttled++
		if i+1 == len(calls) || calls[i+1].Throttled || calls[i+1].Query != c.Query {
			t.Errorf("call %d was throttled and not retried once", i)
		}
	}
	if throttled == 0 {
		t.Error("the emulator throttled nothing")
	}

	// A bucket that takes long to refill: the lookup gives up at once, and
	// the next one does not even ask until the bucket holds enough.
	a2, rep := open(t, shop, shop.AccessToken)
	shop.SetBucket(1000, 0, 0.1)
	start := time.Now()
	if _, err := a2.RecentOrders(bg, []string{"ada@example.com"}, nil); !errors.Is(err, shopify.ErrThrottled) {
		t.Fatalf("err %v, want ErrThrottled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a long throttle held the lookup %v", d)
	}
	before := len(shop.Calls())
	if _, err := a2.RecentOrders(bg, []string{"ada@example.com"}, nil); !errors.Is(err, shopify.ErrThrottled) {
		t.Fatalf("err %v, want ErrThrottled", err)
	}
	if n := len(shop.Calls()); n != before {
		t.Errorf("a throttled adapter still called Shopify (%d -> %d calls)", before, n)
	}
	if strings.Contains(rep.text(), "AuthFailed") {
		t.Errorf("a throttle is no auth failure: %s", rep.text())
	}
}

func TestWebhooks(t *testing.T) {
	shop := shopifytest.New("")
	defer shop.Close()
	_, orders := seedAda(shop)
	a, rep := open(t, shop, shop.AccessToken)
	url := webhookURL(t, a)
	newest := orders[len(orders)-1]

	look := func() *shopify.Orders {
		t.Helper()
		got, err := a.RecentOrders(bg, []string{"ada@example.com"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	look()
	calls := len(shop.Calls())
	fetched := func() bool {
		t.Helper()
		look()
		n := len(shop.Calls())
		defer func() { calls = n }()
		return n > calls
	}

	shop.UpdateOrder(newest.ID, func(o *shopifytest.Order) { o.FulfillmentStatus = "FULFILLED" })
	d, err := shop.OrderDelivery("orders/fulfilled", newest.ID)
	if err != nil {
		t.Fatal(err)
	}

	refused := []struct {
		name   string
		change func(d shopifytest.Delivery) shopifytest.Delivery
		status int
	}{
		{"forged signature", func(d shopifytest.Delivery) shopifytest.Delivery {
			d.Signature = shopifytest.Sign("not-the-secret", d.Body)
			return d
		}, http.StatusUnauthorized},
		{"no signature", func(d shopifytest.Delivery) shopifytest.Delivery { d.Signature = " "; return d }, http.StatusUnauthorized},
		{"body changed after signing", func(d shopifytest.Delivery) shopifytest.Delivery {
			d.Signature = shopifytest.Sign(shop.ClientSecret, d.Body)
			d.Body = []byte(strings.Replace(string(d.Body), "ada@", "eve@", 1))
			return d
		}, http.StatusUnauthorized},
		{"another shop of the same app", func(d shopifytest.Delivery) shopifytest.Delivery { d.Shop = "evil.myshopify.com"; return d }, http.StatusUnauthorized},
		{"malformed JSON", func(d shopifytest.Delivery) shopifytest.Delivery {
			d.Body = []byte(`{"email": "ada@example.com"`)
			return d
		}, http.StatusBadRequest},
		{"wrong types", func(d shopifytest.Delivery) shopifytest.Delivery { d.Body = []byte(`{"customer": "ada"}`); return d }, http.StatusBadRequest},
		{"no webhook id", func(d shopifytest.Delivery) shopifytest.Delivery { d.WebhookID = ""; return d }, http.StatusBadRequest},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			bad := tc.change(d)
			status, err := shop.Deliver(url, bad)
			if err != nil {
				t.Fatal(err)
			}
			if status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
			if fetched() {
				t.Error("a refused delivery refreshed the cache")
			}
		})
	}

	t.Run("order update refreshes the cache", func(t *testing.T) {
		status, err := shop.Deliver(url, d)
		if err != nil || status != http.StatusOK {
			t.Fatalf("status %d, %v", status, err)
		}
		if !fetched() {
			t.Fatal("the cache still answered after an order webhook")
		}
		if got := look(); got.Orders[0].Fulfillment() != "fulfilled" {
			t.Errorf("newest order now %q, want fulfilled", got.Orders[0].Fulfillment())
		}
	})
	t.Run("a repeated webhook id is done once", func(t *testing.T) {
		status, err := shop.Deliver(url, d) // Shopify's retry: same X-Shopify-Webhook-Id
		if err != nil || status != http.StatusOK {
			t.Fatalf("status %d, %v", status, err)
		}
		if fetched() {
			t.Error("a duplicate delivery refreshed the cache again")
		}
		// A new delivery of the same order (its own webhook id) is handled.
		if status, err := shop.SendOrderWebhook(url, "orders/updated", newest.ID); err != nil || status != http.StatusOK {
			t.Fatalf("status %d, %v", status, err)
		}
		if !fetched() {
			t.Error("a new delivery did not refresh the cache")
		}
	})
	t.Run("an order of someone else leaves the cache", func(t *testing.T) {
		bob := shop.AddCustomer(shopifytest.Customer{FirstName: "Bob", Email: "bob@example.com", Phone: "+15550199"})
		o := shop.AddOrder(shopifytest.Order{CustomerID: bob.ID, FinancialStatus: "PENDING", Total: "3", Currency: "USD"})
		if status, err := shop.SendOrderWebhook(url, "orders/create", o.ID); err != nil || status != http.StatusOK {
			t.Fatalf("status %d, %v", status, err)
		}
		if fetched() {
			t.Error("Bob's order refreshed Ada's orders")
		}
	})
	t.Run("other topics are acknowledged", func(t *testing.T) {
		status, err := shop.Deliver(url, shopifytest.NewDelivery("products/update", []byte(`{"id": 1, "title": "Lamp"}`)))
		if err != nil || status != http.StatusOK {
			t.Fatalf("status %d, %v", status, err)
		}
		if fetched() {
			t.Error("a product update refreshed the cache")
		}
	})
	t.Run("a customer update by id", func(t *testing.T) {
		got := look()
		body := []byte(`{"id": ` + strings.TrimPrefix(got.CustomerID, "gid://shopify/Customer/") + `, "email": "ada.new@example.com"}`)
		if status, err := shop.Deliver(url, shopifytest.NewDelivery("customers/update", body)); err != nil || status != http.StatusOK {
			t.Fatalf("status %d, %v", status, err)
		}
		if !fetched() {
			t.Error("a customer update did not refresh the customer's orders")
		}
	})
	t.Run("app uninstalled", func(t *testing.T) {
		if status, err := shop.Deliver(url, shopifytest.NewDelivery("app/uninstalled", []byte(`{"id": 1, "domain": "acme.myshopify.com"}`))); err != nil || status != http.StatusOK {
			t.Fatalf("status %d, %v", status, err)
		}
		if !strings.HasPrefix(rep.last(), "AuthFailed app_uninstalled") {
			t.Errorf("reported %q", rep.text())
		}
	})
	t.Run("GET is refused", func(t *testing.T) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
}

func TestClose(t *testing.T) {
	shop := shopifytest.New("")
	defer shop.Close()
	seedAda(shop)
	a, _ := open(t, shop, shop.AccessToken)
	if c := a.Credentials(); len(c) != 2 || c[0] != shop.AccessToken || c[1] != shop.ClientSecret {
		t.Fatalf("Credentials %d values before Close", len(c))
	}
	if _, err := a.RecentOrders(bg, []string{"ada@example.com"}, nil); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if c := a.Credentials(); c != nil {
		t.Errorf("Credentials after Close: %d values", len(c))
	}
	if _, err := a.RecentOrders(bg, []string{"ada@example.com"}, nil); !errors.Is(err, shopify.ErrClosed) {
		t.Errorf("a closed adapter answered from its cache or Shopify: %v", err)
	}
	req := httptest.NewRequest(http.MethodPost, "/webhooks/shopify/store", nil)
	if _, _, _, err := a.ServeWebhook(bg, req, []byte(`{}`)); err == nil {
		t.Error("a closed adapter accepted a webhook")
	}
}

func TestFactoryRefusesBadConfig(t *testing.T) {
	good := map[string]string{"accessToken": "shpat_x", "clientSecret": "s"}
	for name, tc := range map[string]struct {
		shop  string
		creds map[string]string
		want  string
	}{
		"no shop":          {"", good, "shopDomain"},
		"custom domain":    {"shop.example.com", good, "shopDomain"},
		"path in shop":     {"acme.myshopify.com/admin", good, "shopDomain"},
		"no token":         {"acme.myshopify.com", map[string]string{"clientSecret": "s"}, "accessToken"},
		"no client secret": {"acme.myshopify.com", map[string]string{"accessToken": "shpat_x"}, "clientSecret"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := shopify.New(adapter.Deps{Info: contract.ChannelInfo{Type: shopify.Type, Config: map[string]string{"shopDomain": tc.shop}}, Credentials: tc.creds})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one naming %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "shpat_x") {
				t.Errorf("the error holds the token: %v", err)
			}
		})
	}
	a, err := shopify.New(adapter.Deps{Info: contract.ChannelInfo{Config: map[string]string{"shopDomain": "https://Acme.myshopify.com/"}}, Credentials: good})
	if err != nil || a.(*shopify.Adapter).Shop() != "acme.myshopify.com" {
		t.Errorf("a shop URL: %v", err)
	}
}
