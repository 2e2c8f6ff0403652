package email

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
)

// The "imap" Integration type: an IMAP mailbox and an SMTP server, with a
// username and a password (an app password where the provider has them).
//
// Config keys (see api/v1alpha1 IntegrationSpec):
//   - imapHost, smtpHost, username: required.
//   - imapPort: 993 (143 with imapSecurity starttls or none).
//   - imapSecurity: tls, starttls or none; tls unless imapPort is 143.
//   - smtpPort: 587 (465 with smtpSecurity tls).
//   - smtpSecurity: tls, starttls or none; tls if smtpPort is 465, else starttls.
//   - mailbox: the folder read, INBOX.
//   - fromAddress: the sender of replies; username when it is an address.
//   - fromName: the sender's display name.
//   - caCertificate: a PEM CA that signs the servers' certificates, trusted
//     besides the system's roots (a private CA).
//   - saveSentCopy: "true" (the default) or "false": whether each reply
//     sent is appended to the sent-mail folder (Options.SaveSent).
//   - sentMailbox: that folder; the one the server marks \Sent by default.
//
// Credentials: password.
func init() {
	adapter.Register("imap", newIMAP)
}

func newIMAP(d adapter.Deps) (adapter.Adapter, error) {
	opts, err := OptionsFromConfig(d.Info.Config, d.Credentials["password"])
	if err != nil {
		return nil, err
	}
	return New(d, opts)
}

// OptionsFromConfig reads an "imap" Integration's config and password.
func OptionsFromConfig(cfg map[string]string, password string) (Options, error) {
	var o Options
	get := func(k string) string { return strings.TrimSpace(cfg[k]) }
	user := get("username")
	if get("imapHost") == "" || get("smtpHost") == "" || user == "" {
		return o, errors.New("config needs imapHost, smtpHost and username")
	}
	if password == "" {
		return o, errors.New("the credentials need a password")
	}
	var err error
	if o.IMAP, err = server("imap", get("imapHost"), get("imapPort"), get("imapSecurity"), 993, 143); err != nil {
		return o, err
	}
	if o.SMTP, err = server("smtp", get("smtpHost"), get("smtpPort"), get("smtpSecurity"), 465, 587); err != nil {
		return o, err
	}
	o.Auth = Password(user, password)
	o.Mailbox = get("mailbox")
	o.FromAddress = get("fromAddress")
	if o.FromAddress == "" {
		o.FromAddress = user
	}
	if normalizeAddress(o.FromAddress) == "" {
		return o, fmt.Errorf("fromAddress %q is not an email address (set it when username is not one)", o.FromAddress)
	}
	o.FromName = get("fromName")
	switch v := strings.ToLower(get("saveSentCopy")); v {
	case "", "true":
		o.SaveSent = true
	case "false":
	default:
		return o, fmt.Errorf("saveSentCopy %q is not true or false", get("saveSentCopy"))
	}
	o.SentMailbox = get("sentMailbox")
	if strings.ContainsAny(o.FromName+o.FromAddress+o.Mailbox+o.SentMailbox, "\r\n\x00") {
		return o, errors.New("fromName, fromAddress, mailbox and sentMailbox are one line each")
	}
	if pemCA := cfg["caCertificate"]; strings.TrimSpace(pemCA) != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(pemCA)) {
			return o, errors.New("caCertificate holds no PEM certificate")
		}
		o.TLSConfig = &tls.Config{RootCAs: pool}
	}
	return o, nil
}

// server reads one server's host, port and security. The security follows
// the port (implicit TLS on tlsPort) unless set; the port follows the
// security (tlsPort for tls, plainPort otherwise) unless set.
func server(prefix, host, port, security string, tlsPort, plainPort int) (Server, error) {
	if strings.ContainsAny(host, "/ :@") && net.ParseIP(strings.Trim(host, "[]")) == nil {
		return Server{}, fmt.Errorf("%sHost %q is not a host name", prefix, host)
	}
	sec := Security(strings.ToLower(security))
	p := 0
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return Server{}, fmt.Errorf("%sPort %q is not a port", prefix, port)
		}
		p = n
	}
	switch sec {
	case "":
		// IMAP is TLS but on 143; SMTP is STARTTLS but on 465.
		if (prefix == "imap" && p != plainPort) || (prefix == "smtp" && p == tlsPort) {
			sec = TLS
		} else {
			sec = StartTLS
		}
	case TLS, StartTLS, None:
	default:
		return Server{}, fmt.Errorf("%sSecurity %q is not tls, starttls or none", prefix, security)
	}
	if p == 0 {
		p = plainPort
		if sec == TLS {
			p = tlsPort
		}
	}
	return Server{Addr: net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(p)), Security: sec}, nil
}
