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
		"[::ffff:10.0.0.1]:80", "0.0.0.0:80", "[::]:80", "224.0.0.1:80", "[fc00::1]:80", "[fd12:3456::1]:80"} {
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
