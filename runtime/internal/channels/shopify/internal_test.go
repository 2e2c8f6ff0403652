package shopify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCacheBounded(t *testing.T) {
	c := newOrderCache(3)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		c.put(&cacheEntry{key: fmt.Sprint(i), emails: []string{fmt.Sprintf("%d@x.example", i)}, orders: &Orders{}, at: t0.Add(time.Duration(i) * time.Second)}, c.generation())
	}
	if n := c.len(); n != 3 {
		t.Fatalf("%d entries, want at most 3", n)
	}
	if _, ok := c.get("0", t0.Add(time.Minute)); ok {
		t.Error("the oldest entry stayed")
	}
	if _, ok := c.get("4", t0.Add(time.Minute)); !ok {
		t.Error("the newest entry went")
	}
	if _, ok := c.get("4", t0.Add(4*time.Second+CacheTTL)); ok {
		t.Error("an entry outlived CacheTTL")
	}
}

func TestCacheInvalidate(t *testing.T) {
	c := newOrderCache(10)
	now := time.Now()
	c.put(&cacheEntry{key: "a", emails: []string{"ada@example.com"}, orders: &Orders{CustomerID: "gid://shopify/Customer/1"}, at: now}, 0)
	c.put(&cacheEntry{key: "b", phones: []string{"15550100"}, orders: &Orders{}, at: now}, 0)
	c.put(&cacheEntry{key: "c", emails: []string{"cy@example.com"}, orders: &Orders{CustomerID: "gid://shopify/Customer/3"}, at: now}, 0)
	if n := c.invalidate(nil, []string{"15550100"}, []string{"gid://shopify/Customer/1"}); n != 2 {
		t.Errorf("invalidated %d, want a (by customer) and b (by phone)", n)
	}
	if _, ok := c.get("c", now); !ok {
		t.Error("c went")
	}
	// A lookup that began before an invalidation does not store its answer.
	gen := c.generation()
	c.invalidate([]string{"zed@example.com"}, nil, nil)
	c.put(&cacheEntry{key: "d", orders: &Orders{}, at: now}, gen)
	if _, ok := c.get("d", now); ok {
		t.Error("a lookup older than an invalidation was cached")
	}
}

func TestIDSet(t *testing.T) {
	s := newIDSet(3, time.Hour)
	t0 := time.Now()
	if !s.add("a", t0) || s.add("a", t0.Add(time.Minute)) {
		t.Fatal("a second add of a within the TTL was new")
	}
	if !s.add("a", t0.Add(time.Hour)) {
		t.Error("a was still remembered after the TTL")
	}
	for i, id := range []string{"b", "c", "d", "e"} {
		s.add(id, t0.Add(time.Hour+time.Duration(i)*time.Second))
	}
	if len(s.m) > 3 || len(s.queue) > 3 {
		t.Errorf("%d ids remembered, %d queued, want at most 3", len(s.m), len(s.queue))
	}
	if s.add("e", t0.Add(time.Hour+10*time.Second)) {
		t.Error("e was forgotten before older ids")
	}
}

func TestTotal(t *testing.T) {
	for amount, want := range map[string]string{"12.5": "12.50 EUR", "12": "12.00 EUR", "12.345": "12.345 EUR", "0.0": "0.00 EUR", "12.10": "12.10 EUR", "": "EUR"} {
		if got := (Order{Amount: amount, Currency: "EUR"}).Total(); got != want {
			t.Errorf("Total(%q) = %q, want %q", amount, got, want)
		}
	}
}

func TestSearchTerm(t *testing.T) {
	if got := searchTerm("email", `a"b\c@example.com`); got != `email:"a\"b\\c@example.com"` {
		t.Errorf("searchTerm = %s", got)
	}
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// FuzzVerify: a signature verifies only if it is the body's HMAC.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"id":1}`), sign("secret", []byte(`{"id":1}`)))
	f.Add([]byte(`{"id":1}`), "")
	f.Add([]byte(``), "AAAA")
	f.Add([]byte(`x`), sign("other", []byte(`x`)))
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		ok := Verify("secret", body, sig)
		want := sign("secret", body)
		if ok {
			got, err := base64.StdEncoding.DecodeString(sig)
			wantRaw, _ := base64.StdEncoding.DecodeString(want)
			if err != nil || !hmac.Equal(got, wantRaw) {
				t.Fatalf("Verify accepted %q for a body whose signature is %q", sig, want)
			}
		}
		if !Verify("secret", body, want) {
			t.Fatal("Verify refused the right signature")
		}
		if Verify("", body, sign("", body)) {
			t.Fatal("Verify accepted an empty secret")
		}
	})
}

// FuzzParseWebhook: any body gives refs or an error, never a panic, and
// the refs are normalised.
func FuzzParseWebhook(f *testing.F) {
	f.Add("orders/updated", []byte(`{"id":1,"admin_graphql_api_id":"gid://shopify/Order/1","email":"Ada@Example.com","phone":"+44 20","customer":{"id":2,"email":"a@b.c","phone":"+15550100"},"billing_address":{"phone":"+15550101"}}`))
	f.Add("customers/update", []byte(`{"id":"12","email":null}`))
	f.Add("customers/redact", []byte(`{"shop_id":1,"customer":{"id":9007199254740993}}`))
	f.Add("products/update", []byte(`[]`))
	f.Add("orders/create", []byte(`{"customer":null,"shipping_address":null}`))
	f.Fuzz(func(t *testing.T, topic string, body []byte) {
		r, err := ParseWebhook(topic, body)
		if err != nil {
			return
		}
		for _, e := range r.Emails {
			if e != strings.ToLower(strings.TrimSpace(e)) || e == "" {
				t.Fatalf("email %q not normalised", e)
			}
		}
		for _, p := range r.Phones {
			if digits(p) != p || len(p) < 6 {
				t.Fatalf("phone %q not normalised", p)
			}
		}
		for _, id := range r.CustomerIDs {
			if !strings.HasPrefix(id, "gid://shopify/Customer/") {
				t.Fatalf("customer id %q", id)
			}
		}
	})
}

// FuzzParseResponse: any answer parses or errs, and Throttled never panics.
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(`{"data":{"shop":{"name":"acme"}},"extensions":{"cost":{"requestedQueryCost":1,"actualQueryCost":1,"throttleStatus":{"maximumAvailable":1000,"currentlyAvailable":999,"restoreRate":50}}}}`))
	f.Add([]byte(`{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],"extensions":{"cost":{"requestedQueryCost":752,"actualQueryCost":null,"throttleStatus":{"maximumAvailable":1000.0,"currentlyAvailable":666,"restoreRate":0}}}}`))
	f.Add([]byte(`{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}`))
	f.Add([]byte(`{"errors":{"query":"Required parameter missing or invalid"}}`))
	f.Add([]byte(`{"errors":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			return
		}
		if yes, wait := r.Throttled(); yes && (wait < 0 || wait > time.Minute) {
			t.Fatalf("throttle wait %v", wait)
		}
	})
}
