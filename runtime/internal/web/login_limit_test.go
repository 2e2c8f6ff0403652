package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string
		want    string
	}{
		{"no proxy", nil, "198.51.100.7:5123", nil, "198.51.100.7"},
		{"forged header, no trusted proxy", nil, "198.51.100.7:5123", []string{"203.0.113.9"}, "198.51.100.7"},
		{"forged header from a peer that is not a trusted proxy", proxies, "198.51.100.7:5123", []string{"10.1.1.1"}, "198.51.100.7"},
		{"through a trusted proxy", proxies, "10.0.0.5:40000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"client-written hops left of the proxy's are not read", proxies, "10.0.0.5:40000", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"a chain of trusted proxies", proxies, "10.0.0.5:40000", []string{"1.2.3.4, 203.0.113.9, 10.2.0.1, fd00::7"}, "203.0.113.9"},
		{"several header lines are one list", proxies, "10.0.0.5:40000", []string{"1.2.3.4, 203.0.113.9", "10.2.0.1"}, "203.0.113.9"},
		{"a client forging a trusted hop", proxies, "10.0.0.5:40000", []string{"10.9.9.9, 203.0.113.9"}, "203.0.113.9"},
		{"hops with ports and IPv6", proxies, "[fd00::1]:40000", []string{"[2001:db8::5]:1234, 10.0.0.9:80"}, "2001:db8::5"},
		{"IPv4-mapped peer", proxies, "[::ffff:10.0.0.5]:40000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"every hop trusted", proxies, "10.0.0.5:40000", []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"trusted proxy, no header", proxies, "10.0.0.5:40000", nil, "10.0.0.5"},
		{"garbage stops at the last trusted hop", proxies, "10.0.0.5:40000", []string{"203.0.113.9, unknown, 10.2.2.2"}, "10.2.2.2"},
		{"empty hop", proxies, "10.0.0.5:40000", []string{"203.0.113.9,"}, "10.0.0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientAddr(r, tt.trusted); got.String() != tt.want {
				t.Errorf("clientAddr = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLimitKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9":           "203.0.113.9",
		"2001:db8:1:2:3:4:5:6":  "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":  "2001:db8:1:2::/64",
		"2001:db8:1:3::1":       "2001:db8:1:3::/64",
		"::ffff:203.0.113.9":    "203.0.113.9", // not ::/64, which every IPv4 client would share
		"2606:4700:4700::1111":  "2606:4700:4700::/64",
		"fd00:1:2:3:4:5:6:7890": "fd00:1:2:3::/64",
	} {
		if got := limitKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("limitKey(%s) = %s, want %s", in, got, want)
		}
	}
}

// signIns posts sign-ins to the replicas in turn, each from a client address
// that the trusted proxy (the test, on loopback) names in X-Forwarded-For.
type signIns struct {
	t        *testing.T
	replicas []string
	n        int
}

func (s *signIns) try(from, email, password string) int {
	s.t.Helper()
	base := s.replicas[s.n%len(s.replicas)]
	s.n++
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(url.Values{"email": {email}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	resp, err := noRedirect().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// behindProxy is the fixture's workspace served by two replicas that trust
// the loopback proxy: the limits are shared through the database.
func behindProxy(t *testing.T) (*fixture, *signIns) {
	t.Helper()
	f := newFixture(t)
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.srv.TrustedProxies = loopback
	replica, err := New(f.replicaOptions()) // with TrustedProxies: loopback
	if err != nil {
		t.Fatal(err)
	}
	rts := httptest.NewServer(replica)
	t.Cleanup(rts.Close)
	return f, &signIns{t: t, replicas: []string{f.ts.URL, rts.URL}}
}

const owner = "owner@acme.example"

// TestOwnerSignsInWhileAttacked: an attacker who keeps guessing the owner's
// password from one address is stopped there, and the owner still signs in
// from another.
func TestOwnerSignsInWhileAttacked(t *testing.T) {
	_, s := behindProxy(t)
	const attacker, home = "203.0.113.7", "198.51.100.20"
	for i := 0; i < 30; i++ {
		want := http.StatusUnauthorized
		if i >= loginPerPair {
			want = http.StatusTooManyRequests
		}
		if got := s.try(attacker, owner, fmt.Sprint("guess-", i)); got != want {
			t.Fatalf("attacker's guess %d: %d, want %d", i, got, want)
		}
	}
	if got := s.try(attacker, owner, "password-for-tests"); got != http.StatusTooManyRequests {
		t.Fatalf("the right password from the attacker's address: %d, want 429", got)
	}
	for i := 0; i < 2; i++ { // on both replicas
		if got := s.try(home, owner, "password-for-tests"); got != http.StatusSeeOther {
			t.Fatalf("the owner from home while attacked (replica %d): %d, want 303", i, got)
		}
	}
	// The owner mistyping at home is counted at home, not added to the attacker's lock.
	if got := s.try(home, owner, "typo"); got != http.StatusUnauthorized {
		t.Fatalf("a typo from home: %d, want 401", got)
	}
}

// TestAttackFromManyAddresses: once an account has had loginPerEmail
// failures from all addresses, each address gets one guess only; an address
// with no failures still gets its try, so the owner is never locked out.
func TestAttackFromManyAddresses(t *testing.T) {
	_, s := behindProxy(t)
	for i := 0; i < loginPerEmail; i++ {
		if got := s.try(fmt.Sprintf("203.0.113.%d", i), owner, "guess"); got != http.StatusUnauthorized {
			t.Fatalf("guess from address %d: %d, want 401", i, got)
		}
	}
	// Under attack now: an address that failed already gets no second guess...
	if got := s.try("203.0.113.0", owner, "password-for-tests"); got != http.StatusTooManyRequests {
		t.Fatalf("second guess from an address that failed: %d, want 429", got)
	}
	// ...a fresh one gets one...
	if got := s.try("203.0.113.200", owner, "guess"); got != http.StatusUnauthorized {
		t.Fatalf("a fresh address's guess: %d, want 401", got)
	}
	if got := s.try("203.0.113.200", owner, "guess"); got != http.StatusTooManyRequests {
		t.Fatalf("its second guess: %d, want 429", got)
	}
	// ...and the owner, from anywhere they have not failed, gets in.
	if got := s.try("198.51.100.20", owner, "password-for-tests"); got != http.StatusSeeOther {
		t.Fatalf("the owner: %d, want 303", got)
	}
	// Other accounts are not under attack.
	for i := 0; i < 2; i++ {
		if got := s.try("198.51.100.21", "agent@acme.example", "typo"); got != http.StatusUnauthorized {
			t.Fatalf("another account's typo %d: %d, want 401", i, got)
		}
	}
	if got := s.try("198.51.100.21", "agent@acme.example", "password-for-tests"); got != http.StatusSeeOther {
		t.Fatalf("another account: %d, want 303", got)
	}
}

// TestOneAddressManyAccounts: one address may fail loginPerAddr times
// across all accounts.
func TestOneAddressManyAccounts(t *testing.T) {
	_, s := behindProxy(t)
	for i := 0; i < loginPerAddr; i++ {
		if got := s.try("203.0.113.7", fmt.Sprintf("someone%d@acme.example", i), "guess"); got != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, got)
		}
	}
	if got := s.try("203.0.113.7", "viewer@acme.example", "password-for-tests"); got != http.StatusTooManyRequests {
		t.Fatalf("after %d failures from one address: %d, want 429", loginPerAddr, got)
	}
	if got := s.try("203.0.113.8", "viewer@acme.example", "password-for-tests"); got != http.StatusSeeOther {
		t.Fatalf("from another address: %d, want 303", got)
	}
}

// TestIPv6ClientsCountPerSlash64: addresses of one /64 share their limits.
func TestIPv6ClientsCountPerSlash64(t *testing.T) {
	_, s := behindProxy(t)
	for i := 0; i < loginPerPair; i++ {
		if got := s.try(fmt.Sprintf("2001:db8:1:2::%x", i+1), owner, "guess"); got != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, got)
		}
	}
	if got := s.try("2001:db8:1:2:ffff::1", owner, "guess"); got != http.StatusTooManyRequests {
		t.Fatalf("another address of the same /64: %d, want 429", got)
	}
	if got := s.try("2001:db8:1:3::1", owner, "password-for-tests"); got != http.StatusSeeOther {
		t.Fatalf("the next /64: %d, want 303", got)
	}
}

// TestForgedForwardedForIsIgnored: with no trusted proxy configured (the
// default), X-Forwarded-For is the client's own claim and is not read: one
// peer cycling through forged addresses is still one address.
func TestForgedForwardedForIsIgnored(t *testing.T) {
	f := newFixture(t)
	s := &signIns{t: t, replicas: []string{f.ts.URL}}
	for i := 0; i < loginPerAddr; i++ {
		if got := s.try(fmt.Sprintf("203.0.113.%d", i), fmt.Sprintf("someone%d@acme.example", i), "guess"); got != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, got)
		}
	}
	if got := s.try("198.51.100.99", "viewer@acme.example", "password-for-tests"); got != http.StatusTooManyRequests {
		t.Fatalf("a forged fresh address after %d failures: %d, want 429", loginPerAddr, got)
	}
	// Same with the owner's account: forged addresses are no fresh addresses.
	g := newFixture(t)
	s = &signIns{t: t, replicas: []string{g.ts.URL}}
	for i := 0; i < loginPerPair; i++ {
		s.try(fmt.Sprintf("203.0.113.%d", i), owner, "guess")
	}
	if got := s.try("198.51.100.99", owner, "password-for-tests"); got != http.StatusTooManyRequests {
		t.Fatalf("the owner's account after %d guesses from one peer with forged addresses: %d, want 429", loginPerPair, got)
	}
}

// FuzzClientAddr: X-Forwarded-For is outside input. Whatever it holds, the
// client address is the peer unless the peer is a trusted proxy, and is
// never a hop left of one that is not trusted.
func FuzzClientAddr(f *testing.F) {
	f.Add("10.0.0.5:40000", "1.2.3.4, 203.0.113.9, 10.2.0.1")
	f.Add("198.51.100.7:5123", "10.1.1.1")
	f.Add("[fd00::1]:1", "[2001:db8::5]:1234, garbage,, 10.0.0.9:80")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", xff)
		got := clientAddr(r, trusted)
		p, ok := parseHop(peer)
		if !ok || !contains(trusted, p) {
			if got != p {
				t.Fatalf("untrusted peer %q: client %v, want the peer", peer, got)
			}
			return
		}
		hops := strings.Split(xff, ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := parseHop(hops[i])
			if !ok {
				break
			}
			if !contains(trusted, a) {
				if got != a {
					t.Fatalf("peer %q, X-Forwarded-For %q: client %v, want %v", peer, xff, got, a)
				}
				return
			}
		}
		if !contains(trusted, got) {
			t.Fatalf("peer %q, X-Forwarded-For %q: client %v, want a trusted hop", peer, xff, got)
		}
	})
}
