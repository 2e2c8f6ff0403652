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

// sharedAddressSpace is carrier-grade NAT (RFC 6598), which some clusters
// use for pods and services.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// publicOnly refuses addresses a tenant's webhook must not reach: loopback,
// private and shared networks, link-local (cloud metadata services live at
// 169.254.169.254), multicast and unspecified. It runs on the resolved
// address at connect time, so neither a DNS name nor a redirect gets past it.
func publicOnly(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook address %q: %w", address, err)
	}
	ip := ap.Addr().Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || sharedAddressSpace.Contains(ip) {
		return fmt.Errorf("webhooks may not reach %s, a loopback, private or link-local address (SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true allows it, for local development)", ip)
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
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return fmt.Errorf("the webhook redirected more than 3 times")
			}
			return nil
		},
	}
}
