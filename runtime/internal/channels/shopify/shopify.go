// Package shopify is the "shopify" Integration: it shows a contact's recent
// orders beside their conversations, matched to a Shopify customer by email
// address, then by phone number, over the GraphQL Admin API, and keeps them
// fresh through the shop's order webhooks.
//
// Config: shopDomain (acme.myshopify.com), and apiBaseURL to point the
// adapter at another host (tests). Credentials: accessToken (the Admin API
// access token, scopes read_customers and read_orders) and clientSecret (the
// app's client secret, which signs webhooks).
//
// Orders are cached per contact for CacheTTL, at most MaxCached contacts;
// an order webhook drops the entries of its customer, so the next look
// fetches them again. Webhook deliveries are deduplicated on
// X-Shopify-Webhook-Id in memory, for DedupeTTL: a delivery's only effect
// is dropping cache entries, which is harmless to repeat, so a duplicate
// that reaches another replica, or arrives after a restart, costs one
// extra fetch and nothing else.
package shopify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
)

// Type is the Integration type.
const Type = "shopify"

// APIVersion is the Admin API version the adapter speaks.
const APIVersion = "2025-01"

// Limits of the caches.
const (
	// CacheTTL is how long a contact's orders are shown without asking
	// Shopify again (a webhook ends it sooner).
	CacheTTL = 5 * time.Minute
	// MaxCached bounds the contacts whose orders are cached.
	MaxCached = 1000
	// DedupeTTL is how long a webhook id is remembered. Shopify retries a
	// failed delivery 8 times over 4 hours.
	DedupeTTL = 6 * time.Hour
	// MaxDeduped bounds the webhook ids remembered.
	MaxDeduped = 20000
	// MaxOrders is how many recent orders are shown.
	MaxOrders = 5
)

// Errors of RecentOrders. Their text is safe to show.
var (
	// ErrUnavailable: Shopify did not answer, or refused the request.
	ErrUnavailable = errors.New("shopify unavailable")
	// ErrThrottled: the shop's API rate limit is used up for now.
	ErrThrottled = fmt.Errorf("%w: rate limited", ErrUnavailable)
	// ErrClosed: the Integration was disconnected.
	ErrClosed = fmt.Errorf("%w: disconnected", ErrUnavailable)
)

func init() { adapter.Register(Type, New) }

// Adapter is one open shopify Integration.
type Adapter struct {
	d        adapter.Deps
	shop     string // acme.myshopify.com
	endpoint string // the GraphQL endpoint
	client   *http.Client

	mu     sync.RWMutex
	token  string // the Admin API access token
	secret string // the client secret, for webhook signatures
	closed bool
	// throttledUntil is when the shop's cost bucket holds enough again.
	throttledUntil time.Time

	cache *orderCache
	seen  *idSet
}

var _ adapter.WebhookReceiver = (*Adapter)(nil)

var shopDomainRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.myshopify\.com$`)

// ShopDomain normalises a shop's domain as configured ("Acme.myshopify.com",
// "https://acme.myshopify.com/") and checks that it is a myshopify.com
// domain, which is what the Admin API and webhooks name a shop by.
func ShopDomain(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "https://")
	s = strings.TrimSuffix(s, "/")
	return s, shopDomainRE.MatchString(s)
}

// New builds the adapter; it is the Type's adapter.Factory.
func New(d adapter.Deps) (adapter.Adapter, error) {
	shop, ok := ShopDomain(d.Info.Config["shopDomain"])
	if !ok {
		return nil, errors.New("config shopDomain must be the shop's myshopify.com domain, e.g. acme.myshopify.com")
	}
	token, secret := d.Credentials["accessToken"], d.Credentials["clientSecret"]
	var missing []string
	if token == "" {
		missing = append(missing, "accessToken")
	}
	if secret == "" {
		missing = append(missing, "clientSecret")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("credentials lack %s", strings.Join(missing, " and "))
	}
	base := strings.TrimRight(d.ConfigURL("apiBaseURL", "https://"+shop), "/")
	client := d.HTTP
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	if d.Report == nil {
		d.Report = func(string, string, string) {}
	}
	return &Adapter{
		d: d, shop: shop, endpoint: base + "/admin/api/" + APIVersion + "/graphql.json", client: client,
		token: token, secret: secret,
		cache: newOrderCache(MaxCached), seen: newIDSet(MaxDeduped, DedupeTTL),
	}, nil
}

// Shop is the shop's myshopify.com domain.
func (a *Adapter) Shop() string { return a.shop }

// Run checks the access token once, so that the Integration's status says
// whether it works before anyone opens a conversation, retrying while
// Shopify cannot be reached. Then it waits for ctx to end.
func (a *Adapter) Run(ctx context.Context) {
	wait := 5 * time.Second
	for {
		var out struct {
			Shop struct {
				Name string `json:"name"`
			} `json:"shop"`
		}
		err := a.graphql(ctx, `query { shop { name } }`, nil, &out)
		if err == nil || !errors.Is(err, errRetry) {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Minute)
	}
	<-ctx.Done()
}

// Close drops the credentials and the cached orders.
func (a *Adapter) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.token, a.secret, a.closed = "", "", true
	a.cache.clear()
}

// Credentials returns the secrets still held (none once closed).
func (a *Adapter) Credentials() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return nil
	}
	return []string{a.token, a.secret}
}

func (a *Adapter) credentials() (token, secret string, ok bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.token, a.secret, !a.closed
}

func (a *Adapter) report(state, code, message string) { a.d.Report(state, code, message) }
