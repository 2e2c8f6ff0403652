package shopify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
)

// Webhook headers.
const (
	HeaderHmac       = "X-Shopify-Hmac-Sha256"
	HeaderShopDomain = "X-Shopify-Shop-Domain"
	HeaderTopic      = "X-Shopify-Topic"
	HeaderWebhookID  = "X-Shopify-Webhook-Id"
)

// refreshTopics are the topics after which a customer's cached orders are
// dropped. Every other topic is acknowledged and ignored.
var refreshTopics = map[string]bool{
	"orders/create": true, "orders/updated": true, "orders/paid": true, "orders/cancelled": true, "orders/fulfilled": true,
	"customers/update": true, "customers/delete": true, "customers/redact": true,
}

// Verify says whether signature, the X-Shopify-Hmac-Sha256 header, is the
// standard base64 HMAC-SHA256 of the raw body under the app's client
// secret. It compares in constant time.
func Verify(secret string, body []byte, signature string) bool {
	if secret == "" || signature == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// Refs are who a webhook is about, normalised as the cache compares them:
// emails lower-cased, phones as digits, customers as GraphQL ids.
type Refs struct {
	Emails, Phones, CustomerIDs []string
}

func (r Refs) empty() bool { return len(r.Emails)+len(r.Phones)+len(r.CustomerIDs) == 0 }

type person struct {
	ID    json.Number `json:"id"`
	GID   string      `json:"admin_graphql_api_id"`
	Email string      `json:"email"`
	Phone string      `json:"phone"`
}

type withPhone struct {
	Phone string `json:"phone"`
}

// ParseWebhook reads a delivery's body: for the topics that refresh the
// cache, who it is about (an order's email, phone, customer and address
// phones; a customer's id, email and phone); for others only that it is
// JSON.
func ParseWebhook(topic string, body []byte) (Refs, error) {
	if !refreshTopics[topic] {
		if !json.Valid(body) {
			return Refs{}, errors.New("the body is not JSON")
		}
		return Refs{}, nil
	}
	var p struct {
		person
		ContactEmail    string     `json:"contact_email"`
		Customer        *person    `json:"customer"`
		BillingAddress  *withPhone `json:"billing_address"`
		ShippingAddress *withPhone `json:"shipping_address"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return Refs{}, errors.New("the body is not a " + topic + " payload")
	}
	var emails, phones, ids []string
	addID := func(gid string, id json.Number) {
		if gid == "" && id != "" {
			gid = "gid://shopify/Customer/" + id.String()
		}
		if strings.HasPrefix(gid, "gid://shopify/Customer/") && !contains(ids, gid) {
			ids = append(ids, gid)
		}
	}
	emails = append(emails, p.Email, p.ContactEmail)
	phones = append(phones, p.Phone)
	if strings.HasPrefix(topic, "customers/") {
		addID(p.GID, p.ID) // the payload is the customer
	}
	if c := p.Customer; c != nil {
		addID(c.GID, c.ID)
		emails = append(emails, c.Email)
		phones = append(phones, c.Phone)
	}
	for _, a := range []*withPhone{p.BillingAddress, p.ShippingAddress} {
		if a != nil {
			phones = append(phones, a.Phone)
		}
	}
	r := Refs{Emails: normEmails(emails), CustomerIDs: ids}
	for _, ph := range normPhones(phones) {
		if len(ph) >= 6 { // a phone number, not a stray digit
			r.Phones = append(r.Phones, ph)
		}
	}
	return r, nil
}

// ServeWebhook handles a delivery at /webhooks/shopify/<name>. A forged
// or foreign one is refused before anything is done; a repeated
// X-Shopify-Webhook-Id is acknowledged and ignored.
func (a *Adapter) ServeWebhook(ctx context.Context, r *http.Request, body []byte) (int, string, []byte, error) {
	if r.Method != http.MethodPost {
		return 0, "", nil, adapter.Rejected(http.StatusMethodNotAllowed, "unsupported", "method "+r.Method)
	}
	_, secret, ok := a.credentials()
	if !ok {
		return 0, "", nil, ErrClosed
	}
	if !Verify(secret, body, r.Header.Get(HeaderHmac)) {
		return 0, "", nil, adapter.Rejected(http.StatusUnauthorized, adapter.RejectSignature, HeaderHmac+" does not match the body")
	}
	// The client secret is the app's, the same for every shop that
	// installed it: the signature alone does not say which shop sent it.
	if shop, _ := ShopDomain(r.Header.Get(HeaderShopDomain)); shop != a.shop {
		return 0, "", nil, adapter.Rejected(http.StatusUnauthorized, adapter.RejectVerify, HeaderShopDomain+" is not this Integration's shop")
	}
	id, topic := r.Header.Get(HeaderWebhookID), r.Header.Get(HeaderTopic)
	if id == "" || topic == "" || len(id) > 200 || len(topic) > 100 {
		return 0, "", nil, adapter.Rejected(http.StatusBadRequest, adapter.RejectMalformed, "missing or overlong "+HeaderWebhookID+" or "+HeaderTopic)
	}
	refs, err := ParseWebhook(topic, body)
	if err != nil {
		return 0, "", nil, adapter.Rejected(http.StatusBadRequest, adapter.RejectMalformed, err.Error())
	}
	ok200 := []byte("ok")
	if !a.seen.add(id, a.d.Clock()) {
		return http.StatusOK, "text/plain; charset=utf-8", ok200, nil
	}
	if topic == "app/uninstalled" {
		a.report(contract.HealthAuthFailed, "app_uninstalled", "the app was uninstalled from the shop, which revoked its access token")
	}
	if !refs.empty() {
		n := a.cache.invalidate(refs.Emails, refs.Phones, refs.CustomerIDs)
		if a.d.Log != nil {
			a.d.Log.DebugContext(ctx, "shopify webhook refreshed cached orders", "topic", topic, "entries", n)
		}
	}
	return http.StatusOK, "text/plain; charset=utf-8", ok200, nil
}
