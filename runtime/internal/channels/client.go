package channels

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// reserved are special-purpose ranges that IsPrivate and friends do not
// cover: "this network", shared address space (RFC 6598, which some clusters
// use for pods and services), IETF protocol assignments, benchmarking, the
// former class E (which some clusters also use) with broadcast, IPv6
// discard-only and the deprecated site-local range, and every IPv6 range
// that embeds or reaches an IPv4 address: IPv4-compatible (::/96, which also
// holds :: and ::1), IPv4-translated, NAT64, 6to4 and Teredo. Through any of
// those an IPv6 address can reach a private IPv4 one, and no tenant webhook
// needs them. IPv4-mapped addresses (::ffff:0:0/96) are unmapped before the
// check, so they are judged as the IPv4 address they carry; the prefix is
// listed for completeness.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("::ffff:0:0/96"),
	netip.MustParsePrefix("::ffff:0:0:0/96"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("fec0::/10"),
}

// publicOnly refuses addresses a tenant's webhook must not reach: loopback,
// private and shared networks, link-local (cloud metadata services live at
// 169.254.169.254), multicast and unspecified. It runs on the resolved
// address at connect time, so a DNS name cannot get past it.
func publicOnly(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook address %q: %w", address, err)
	}
	ip := ap.Addr().Unmap()
	refused := ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified()
	for _, p := range reserved {
		refused = refused || p.Contains(ip)
	}
	if refused {
		return fmt.Errorf("webhooks may not reach %s, a loopback, private, link-local or reserved address (SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true allows it, for local development)", ip)
	}
	return nil
}

// NewWebhookClient is the HTTP client replies are delivered with. Unless
// allowPrivate, it connects only to public addresses, so that a workspace
// admin cannot aim the webhook at the cluster's own services. It goes
// straight to the target, never through a proxy from the environment.
func NewWebhookClient(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = publicOnly
	}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 10 * time.Second,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		// A redirect is not followed: it would turn the POST into a GET
		// without the message, and carry the signature elsewhere. The 3xx
		// is recorded as a failed delivery.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
