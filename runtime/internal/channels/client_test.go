package channels

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPublicOnly(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:80", "127.8.9.10:443", "[::1]:80", "10.1.2.3:443", "172.16.0.1:80", "172.31.255.254:80",
		"192.168.1.1:80", "169.254.169.254:80", "100.64.1.1:80", "100.127.255.254:80", "[fe80::1]:80", "[::ffff:127.0.0.1]:80",
		"[::ffff:10.0.0.1]:80", "0.0.0.0:80", "0.1.2.3:80", "[::]:80", "224.0.0.1:80", "[fc00::1]:80", "[fd12:3456::1]:80",
		"192.0.0.8:80", "198.18.0.1:80", "198.19.255.1:80", "240.0.0.1:80", "255.255.255.255:80", "[64:ff9b::a00:1]:80", "[64:ff9b:1::1]:80"} {
		if err := publicOnly("tcp", addr, nil); err == nil {
			t.Errorf("%s: allowed, want refused", addr)
		}
	}
	for _, addr := range []string{"93.184.216.34:443", "8.8.8.8:53", "172.32.0.1:80", "100.128.0.1:80", "[2606:4700::1111]:443", "[2001:db8::1]:443"} {
		if err := publicOnly("tcp", addr, nil); err != nil {
			t.Errorf("%s: %v, want allowed", addr, err)
		}
	}
}

// TestWebhookClient aims the client at a real server on loopback, by address
// and by a name that resolves to loopback.
func TestWebhookClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	for _, u := range []string{srv.URL, byName} {
		_, err := NewWebhookClient(false).Post(u, "application/json", strings.NewReader("{}"))
		if err == nil || !strings.Contains(err.Error(), "webhooks may not reach") {
			t.Errorf("%s: %v, want it refused", u, err)
		}
		resp, err := NewWebhookClient(true).Post(u, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Errorf("%s with private networks allowed: %v", u, err)
			continue
		}
		resp.Body.Close()
	}
}

// TestWebhookRedirectIsNotFollowed: a 3xx is the webhook's answer, which the
// delivery records as a failure; the signed POST does not go elsewhere.
func TestWebhookRedirectIsNotFollowed(t *testing.T) {
	hits := 0
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer target.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	}))
	defer hook.Close()
	resp, err := NewWebhookClient(true).Post(hook.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || hits != 0 {
		t.Fatalf("status %d, redirect target hit %d times; want 302 and 0", resp.StatusCode, hits)
	}
}

// TestPublicOnlyIPv6Transition covers the IPv6 ranges that carry or reach an
// IPv4 address (IPv4-compatible, IPv4-mapped, 6to4, Teredo) and the old
// site-local range: each is refused, and public addresses of both families
// still pass. A mapped address is checked as the IPv4 address it maps.
func TestPublicOnlyIPv6Transition(t *testing.T) {
	tests := []struct {
		name, addr string
		allowed    bool
	}{
		{"IPv4-compatible loopback", "[::127.0.0.1]:80", false},
		{"IPv4-compatible private", "[::10.0.0.1]:80", false},
		{"IPv4-compatible metadata", "[::169.254.169.254]:80", false},
		{"IPv4-compatible public", "[::8.8.8.8]:80", false},
		{"IPv4-mapped loopback", "[::ffff:127.0.0.1]:80", false},
		{"IPv4-mapped metadata", "[::ffff:a9fe:a9fe]:80", false},
		{"IPv4-mapped shared", "[::ffff:100.64.0.1]:80", false},
		{"IPv4-translated private", "[::ffff:0:10.0.0.1]:80", false},
		{"6to4 of loopback", "[2002:7f00:1::1]:80", false},
		{"6to4 of a public address", "[2002:808:808::1]:443", false},
		{"Teredo", "[2001:0:4136:e378:8000:63bf:3fff:fdd2]:443", false},
		{"Teredo, lowest", "[2001::1]:443", false},
		{"site-local", "[fec0::1]:80", false},
		{"site-local, highest", "[feff:ffff::1]:80", false},
		{"discard-only", "[100::1]:80", false},
		{"public IPv4", "93.184.216.34:443", true},
		{"public IPv4, mapped", "[::ffff:93.184.216.34]:443", true},
		{"public IPv6", "[2606:4700:4700::1111]:443", true},
		{"public IPv6 next to Teredo", "[2001:4860:4860::8888]:443", true},
		{"public IPv6 next to 6to4", "[2003::1]:443", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := publicOnly("tcp", tt.addr, nil)
			if tt.allowed && err != nil {
				t.Errorf("%s: %v, want allowed", tt.addr, err)
			}
			if !tt.allowed && err == nil {
				t.Errorf("%s: allowed, want refused", tt.addr)
			}
		})
	}
}
