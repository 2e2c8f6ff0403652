// Package shopifytest emulates the parts of Shopify that the shopify
// adapter uses, for tests and local development:
//
//   - the Admin GraphQL API at POST /admin/api/{version}/graphql.json,
//     checking X-Shopify-Access-Token and answering the customers search,
//     a customer's orders and the shop's name with Shopify's shapes,
//     extensions.cost included, from a leaky cost bucket that throttles
//     (THROTTLED) when drained;
//   - webhook deliveries signed as Shopify signs them (X-Shopify-Hmac-Sha256,
//     the standard base64 HMAC-SHA256 of the raw body under the app's client
//     secret) with every X-Shopify-* header.
//
// Point the adapter at it with the Integration config apiBaseURL = URL.
package shopifytest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Customer is a customer of the emulated shop.
type Customer struct {
	ID                  int64
	FirstName, LastName string
	Email, Phone        string // Phone in E.164
}

// GID is the customer's GraphQL id.
func (c Customer) GID() string { return "gid://shopify/Customer/" + strconv.FormatInt(c.ID, 10) }

// Order is an order of the emulated shop.
type Order struct {
	ID         int64
	Name       string // "#1001"; set by AddOrder when empty
	CustomerID int64  // 0: a guest order
	// Email and Phone are the order's contact details; AddOrder copies the
	// customer's when empty.
	Email, Phone string
	CreatedAt    time.Time // now when zero
	// FinancialStatus and FulfillmentStatus are GraphQL display enums
	// (PAID, PENDING, REFUNDED...; FULFILLED, UNFULFILLED...).
	FinancialStatus, FulfillmentStatus string
	Total                              string // "12.50"
	Currency                           string // "EUR"
	Cancelled                          bool
}

// GID is the order's GraphQL id.
func (o Order) GID() string { return "gid://shopify/Order/" + strconv.FormatInt(o.ID, 10) }

// Call is one GraphQL request the emulator received.
type Call struct {
	Version   string // the API version of the path
	Token     string // X-Shopify-Access-Token as sent
	Query     string
	Variables map[string]any
	// Status is the HTTP status answered; Throttled says whether the
	// answer was THROTTLED.
	Status    int
	Throttled bool
}

// Server is an emulated shop.
type Server struct {
	// URL is the base URL to configure as apiBaseURL.
	URL string
	// Shop is the shop's myshopify.com domain.
	Shop string
	// AccessToken is the Admin API token it accepts; ClientSecret signs
	// its webhooks.
	AccessToken, ClientSecret string

	srv *httptest.Server

	mu        sync.Mutex
	customers []*Customer
	orders    []*Order
	calls     []Call
	nextID    int64
	nextOrder int
	// The cost bucket.
	maxAvailable, available, restoreRate float64
	filled                               time.Time
}

// New starts an emulated shop (acme.myshopify.com unless shop is given)
// with a fresh access token and client secret. Close it when done.
func New(shop string) *Server {
	if shop == "" {
		shop = "acme.myshopify.com"
	}
	s := &Server{Shop: shop, AccessToken: "shpat_" + randomHex(16), ClientSecret: randomHex(32),
		nextID: 1000, nextOrder: 1001, maxAvailable: 1000, available: 1000, restoreRate: 50, filled: time.Now()}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// AddCustomer adds a customer and returns it with its id.
func (s *Server) AddCustomer(c Customer) Customer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	c.ID = s.nextID
	s.customers = append(s.customers, &c)
	return c
}

// AddOrder adds an order and returns it with its id, name and time.
func (s *Server) AddOrder(o Order) Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	o.ID = s.nextID
	if o.Name == "" {
		o.Name = "#" + strconv.Itoa(s.nextOrder)
		s.nextOrder++
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = time.Now().UTC().Truncate(time.Second)
	}
	if c := s.customer(o.CustomerID); c != nil {
		if o.Email == "" {
			o.Email = c.Email
		}
		if o.Phone == "" {
			o.Phone = c.Phone
		}
	}
	if o.Currency == "" {
		o.Currency = "EUR"
	}
	s.orders = append(s.orders, &o)
	return o
}

// UpdateOrder changes an order in place.
func (s *Server) UpdateOrder(id int64, change func(*Order)) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.orders {
		if o.ID == id {
			change(o)
			return *o, true
		}
	}
	return Order{}, false
}

// Calls returns the GraphQL requests received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// SetBucket sets the cost bucket: its size, what it holds now, and how
// many points it regains per second. New starts with 1000, 1000, 50.
func (s *Server) SetBucket(maxAvailable, available, restoreRate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxAvailable, s.available, s.restoreRate, s.filled = maxAvailable, available, restoreRate, time.Now()
}

func (s *Server) customer(id int64) *Customer {
	for _, c := range s.customers {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// Costs of the queries, in points (requested and actual alike).
const (
	costShop      = 1
	costCustomers = 3
	costOrders    = 9
)

var versionRE = regexp.MustCompile(`^/admin/api/(\d{4}-\d{2}|unstable)/graphql\.json$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	m := versionRE.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodPost {
		writeJSON(w, http.StatusNotFound, map[string]any{"errors": "Not Found"})
		return
	}
	call := Call{Version: m[1], Token: r.Header.Get("X-Shopify-Access-Token")}
	record := func(status int) {
		call.Status = status
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
	}
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	jsonErr := json.Unmarshal(body, &req)
	call.Query, call.Variables = req.Query, req.Variables
	if call.Token != s.AccessToken {
		record(http.StatusUnauthorized)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
		return
	}
	if jsonErr != nil || strings.TrimSpace(req.Query) == "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		record(http.StatusBadRequest)
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]string{"query": "Required parameter missing or invalid"}})
		return
	}
	q := strings.Join(strings.Fields(req.Query), " ")
	var cost float64
	var run func() (any, error)
	switch {
	case strings.Contains(q, "customers("):
		cost, run = costCustomers, func() (any, error) { return s.customersQuery(q, req.Variables) }
	case strings.Contains(q, "customer("):
		cost, run = costOrders, func() (any, error) { return s.ordersQuery(q, req.Variables) }
	case strings.Contains(q, "shop {") || strings.Contains(q, "shop{"):
		cost, run = costShop, func() (any, error) {
			return map[string]any{"shop": map[string]any{"name": strings.TrimSuffix(s.Shop, ".myshopify.com"), "myshopifyDomain": s.Shop}}, nil
		}
	default:
		record(http.StatusOK)
		writeJSON(w, http.StatusOK, map[string]any{"errors": []any{gqlError("this emulator answers shop, customers and customer(id) queries only", "undefinedField")}})
		return
	}
	s.mu.Lock()
	now := time.Now()
	s.available = min(s.maxAvailable, s.available+now.Sub(s.filled).Seconds()*s.restoreRate)
	s.filled = now
	throttled := s.available < cost
	if !throttled {
		s.available -= cost
	}
	status := map[string]any{"maximumAvailable": s.maxAvailable, "currentlyAvailable": s.available, "restoreRate": s.restoreRate}
	s.mu.Unlock()
	if throttled {
		call.Throttled = true
		record(http.StatusOK)
		writeJSON(w, http.StatusOK, map[string]any{
			"errors":     []any{map[string]any{"message": "Throttled", "extensions": map[string]any{"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}},
			"extensions": map[string]any{"cost": map[string]any{"requestedQueryCost": cost, "actualQueryCost": nil, "throttleStatus": status}},
		})
		return
	}
	data, err := run()
	record(http.StatusOK)
	out := map[string]any{"extensions": map[string]any{"cost": map[string]any{"requestedQueryCost": cost, "actualQueryCost": cost, "throttleStatus": status}}}
	if err != nil {
		out["errors"] = []any{gqlError(err.Error(), "argumentLiteralsIncompatible")}
	} else {
		out["data"] = data
	}
	writeJSON(w, http.StatusOK, out)
}

func gqlError(msg, code string) map[string]any {
	return map[string]any{"message": msg, "locations": []any{map[string]int{"line": 1, "column": 1}}, "extensions": map[string]any{"code": code}}
}

// arg finds a field's argument in the query: a $variable or a literal.
func arg(q, field, name string, vars map[string]any) (string, bool) {
	re := regexp.MustCompile(regexp.QuoteMeta(field) + `\(([^)]*)\)`)
	m := re.FindStringSubmatch(q)
	if m == nil {
		return "", false
	}
	am := regexp.MustCompile(`\b` + name + `\s*:\s*(\$\w+|"(?:[^"\\]|\\.)*"|[\w-]+)`).FindStringSubmatch(m[1])
	if am == nil {
		return "", false
	}
	v := am[1]
	switch {
	case strings.HasPrefix(v, "$"):
		x, ok := vars[v[1:]]
		if !ok {
			return "", false
		}
		switch x := x.(type) {
		case string:
			return x, true
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), true
		case bool:
			return strconv.FormatBool(x), true
		}
		return "", false
	case strings.HasPrefix(v, `"`):
		s, err := strconv.Unquote(v)
		return s, err == nil
	}
	return v, true
}

// searchRE reads one term of Shopify's search syntax: field:value or
// field:"quoted value".
var searchRE = regexp.MustCompile(`^(\w+):(?:"((?:[^"\\]|\\.)*)"|(\S+))$`)

func (s *Server) customersQuery(q string, vars map[string]any) (any, error) {
	search, _ := arg(q, "customers", "query", vars)
	first := 50
	if f, ok := arg(q, "customers", "first", vars); ok {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 250 {
			return nil, fmt.Errorf("first must be 1 to 250")
		}
		first = n
	}
	var field, value string
	if search != "" {
		m := searchRE.FindStringSubmatch(strings.TrimSpace(search))
		if m == nil {
			return nil, fmt.Errorf("this emulator searches by one field:value term")
		}
		field, value = m[1], m[3]
		if m[2] != "" || m[3] == "" {
			value = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(m[2])
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	edges := []any{}
	for _, c := range s.customers {
		match := false
		switch field {
		case "":
			match = true
		case "email":
			match = strings.EqualFold(c.Email, value)
		case "phone":
			match = c.Phone != "" && digits(c.Phone) == digits(value)
		}
		if match && len(edges) < first {
			edges = append(edges, map[string]any{"cursor": base64.StdEncoding.EncodeToString([]byte(c.GID())), "node": customerJSON(c)})
		}
	}
	return map[string]any{"customers": map[string]any{"edges": edges}}, nil
}

func customerJSON(c *Customer) map[string]any {
	name := strings.TrimSpace(c.FirstName + " " + c.LastName)
	if name == "" {
		name = c.Email
	}
	return map[string]any{"id": c.GID(), "displayName": name, "firstName": c.FirstName, "lastName": c.LastName,
		"email": nullable(c.Email), "phone": nullable(c.Phone)}
}

func (s *Server) ordersQuery(q string, vars map[string]any) (any, error) {
	id, ok := arg(q, "customer", "id", vars)
	if !ok {
		return nil, fmt.Errorf("customer needs an id")
	}
	num, found := strings.CutPrefix(id, "gid://shopify/Customer/")
	n, err := strconv.ParseInt(num, 10, 64)
	if !found || err != nil {
		return nil, fmt.Errorf("invalid id %q", id)
	}
	first := 10
	if f, ok := arg(q, "orders", "first", vars); ok {
		if first, err = strconv.Atoi(f); err != nil || first < 1 || first > 250 {
			return nil, fmt.Errorf("first must be 1 to 250")
		}
	}
	reverse, _ := arg(q, "orders", "reverse", vars)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.customer(n)
	if c == nil {
		return map[string]any{"customer": nil}, nil
	}
	var mine []*Order
	for _, o := range s.orders {
		if o.CustomerID == c.ID {
			mine = append(mine, o)
		}
	}
	sort.SliceStable(mine, func(i, j int) bool {
		if reverse == "true" {
			return mine[i].CreatedAt.After(mine[j].CreatedAt)
		}
		return mine[i].CreatedAt.Before(mine[j].CreatedAt)
	})
	edges := []any{}
	for _, o := range mine[:min(len(mine), first)] {
		edges = append(edges, map[string]any{"cursor": base64.StdEncoding.EncodeToString([]byte(o.GID())), "node": map[string]any{
			"id": o.GID(), "name": o.Name, "createdAt": o.CreatedAt.UTC().Format(time.RFC3339),
			"displayFinancialStatus": nullable(o.FinancialStatus), "displayFulfillmentStatus": o.FulfillmentStatus,
			"cancelledAt":   cancelledAt(o),
			"totalPriceSet": map[string]any{"shopMoney": map[string]any{"amount": o.Total, "currencyCode": o.Currency}},
		}})
	}
	out := customerJSON(c)
	out["orders"] = map[string]any{"edges": edges}
	return map[string]any{"customer": out}, nil
}

func cancelledAt(o *Order) any {
	if o.Cancelled {
		return o.CreatedAt.Add(time.Hour).UTC().Format(time.RFC3339)
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Sign is Shopify's webhook signature of body: the standard base64
// HMAC-SHA256 under the app's client secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Delivery is one webhook delivery.
type Delivery struct {
	Topic string // orders/create, orders/updated, ...
	Body  []byte
	// WebhookID is X-Shopify-Webhook-Id, the same on every retry of a
	// delivery; EventID is X-Shopify-Event-Id, the same for every
	// delivery of one action.
	WebhookID, EventID string
	// Shop is X-Shopify-Shop-Domain; "" is the server's shop.
	Shop string
	// Signature overrides X-Shopify-Hmac-Sha256 (forgeries); "" signs
	// the body with the client secret.
	Signature string
}

// NewDelivery is a delivery of body on topic with fresh ids.
func NewDelivery(topic string, body []byte) Delivery {
	return Delivery{Topic: topic, Body: body, WebhookID: uuid(), EventID: uuid()}
}

// Request builds the delivery's POST to url, with Shopify's headers.
func (s *Server) Request(url string, d Delivery) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		return nil, err
	}
	shop, sig := d.Shop, d.Signature
	if shop == "" {
		shop = s.Shop
	}
	if sig == "" {
		sig = Sign(s.ClientSecret, d.Body)
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Shopify-Captain-Hook")
	h.Set("X-Shopify-Topic", d.Topic)
	h.Set("X-Shopify-Hmac-Sha256", sig)
	h.Set("X-Shopify-Shop-Domain", shop)
	h.Set("X-Shopify-API-Version", "2025-01")
	h.Set("X-Shopify-Webhook-Id", d.WebhookID)
	h.Set("X-Shopify-Event-Id", d.EventID)
	h.Set("X-Shopify-Triggered-At", time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z"))
	return req, nil
}

// Deliver posts the delivery to url and returns the status answered.
func (s *Server) Deliver(url string, d Delivery) (int, error) {
	req, err := s.Request(url, d)
	if err != nil {
		return 0, err
	}
	// Shopify waits 1 s to connect and 5 s in all.
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// OrderDelivery is a delivery of an order webhook (orders/create,
// orders/updated, orders/paid, orders/cancelled, orders/fulfilled) for the
// order as it is now, in the REST shape Shopify's webhooks carry.
func (s *Server) OrderDelivery(topic string, orderID int64) (Delivery, error) {
	body, err := s.OrderPayload(orderID)
	if err != nil {
		return Delivery{}, err
	}
	return NewDelivery(topic, body), nil
}

// SendOrderWebhook delivers an order webhook to url.
func (s *Server) SendOrderWebhook(url, topic string, orderID int64) (int, error) {
	d, err := s.OrderDelivery(topic, orderID)
	if err != nil {
		return 0, err
	}
	return s.Deliver(url, d)
}

// OrderPayload is an order's webhook body.
func (s *Server) OrderPayload(orderID int64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var o *Order
	for _, x := range s.orders {
		if x.ID == orderID {
			o = x
		}
	}
	if o == nil {
		return nil, fmt.Errorf("no order %d", orderID)
	}
	number, _ := strconv.Atoi(strings.TrimPrefix(o.Name, "#"))
	p := map[string]any{
		"id": o.ID, "admin_graphql_api_id": o.GID(), "name": o.Name, "order_number": number,
		"email": o.Email, "contact_email": o.Email, "phone": nullable(o.Phone),
		"created_at": o.CreatedAt.Format(time.RFC3339), "updated_at": time.Now().UTC().Format(time.RFC3339),
		"cancelled_at": cancelledAt(o), "currency": o.Currency, "presentment_currency": o.Currency,
		"financial_status": strings.ToLower(o.FinancialStatus), "fulfillment_status": nullable(restFulfillment(o.FulfillmentStatus)),
		"total_price": o.Total, "test": false,
		"billing_address":  map[string]any{"phone": nullable(o.Phone), "country_code": "DE"},
		"shipping_address": map[string]any{"phone": nullable(o.Phone), "country_code": "DE"},
		"customer":         nil,
	}
	if c := s.customer(o.CustomerID); c != nil {
		p["customer"] = map[string]any{"id": c.ID, "admin_graphql_api_id": c.GID(), "email": nullable(c.Email), "phone": nullable(c.Phone),
			"first_name": c.FirstName, "last_name": c.LastName, "state": "enabled", "currency": o.Currency}
	}
	return json.Marshal(p)
}

// restFulfillment maps the GraphQL display enum to the REST value webhooks
// carry (null while unfulfilled).
func restFulfillment(s string) string {
	switch s {
	case "FULFILLED":
		return "fulfilled"
	case "PARTIALLY_FULFILLED":
		return "partial"
	case "RESTOCKED":
		return "restocked"
	}
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func uuid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
