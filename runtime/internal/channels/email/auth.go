package email

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// Auth is how an Engine logs in to IMAP and SMTP: with a password (IMAP
// LOGIN, SMTP AUTH PLAIN or LOGIN), or with OAuth 2.0 bearer tokens (SASL
// XOAUTH2 on both).
type Auth struct {
	username string
	mu       sync.Mutex
	password string
	token    func(ctx context.Context) (string, error)
}

// Password logs in as username with password.
func Password(username, password string) *Auth {
	return &Auth{username: username, password: password}
}

// XOAuth2 logs in as username with SASL XOAUTH2, asking token for a bearer
// token at every login: it may refresh one that is about to expire. An
// error from token that wraps an *AuthError is reported as it says
// (ReauthorizationRequired for invalid_grant, say); any other is taken for
// an outage of the identity provider.
func XOAuth2(username string, token func(ctx context.Context) (string, error)) *Auth {
	return &Auth{username: username, token: token}
}

// Username is the login name.
func (a *Auth) Username() string { return a.username }

// secrets are the secret values the Auth holds (none for XOAuth2: the token
// source belongs to its caller).
func (a *Auth) secrets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.password == "" {
		return nil
	}
	return []string{a.password}
}

// clear drops the password and the token source.
func (a *Auth) clear() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.password, a.token = "", nil
}

// credential returns the password, or a fresh token for XOAUTH2.
func (a *Auth) credential(ctx context.Context) (secret string, oauth bool, err error) {
	a.mu.Lock()
	password, token := a.password, a.token
	a.mu.Unlock()
	switch {
	case token != nil:
		t, err := token(ctx)
		if err != nil {
			var ae *AuthError
			if errors.As(err, &ae) {
				return "", true, err
			}
			return "", true, fmt.Errorf("getting an access token: %w", err)
		}
		return t, true, nil
	case password != "":
		return password, false, nil
	}
	return "", false, errClosed
}

var errClosed = errors.New("the email channel is closed")

// AuthError is a login the server, or the identity provider behind it,
// refused: the Engine reports State (a contract.Health* constant) with
// Code, and retries only slowly.
type AuthError struct {
	State, Code, Message string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s (%s): %s", e.State, e.Code, e.Message)
}

// imapLogin logs c in.
func (a *Auth) imapLogin(ctx context.Context, c *imapclient.Client) error {
	secret, oauth, err := a.credential(ctx)
	if err != nil {
		return err
	}
	if oauth {
		if !c.Caps().Has(imap.AuthCap("XOAUTH2")) {
			return &AuthError{State: contract.HealthMisconfigured, Code: "XOAUTH2", Message: "the IMAP server does not offer AUTHENTICATE XOAUTH2"}
		}
		x := NewXOAuth2Client(a.username, secret)
		err = c.Authenticate(x)
		if err != nil && x.ServerError != "" {
			// The server sent its error challenge: it refused the token.
			// go-imap answers the challenge with "=", which dovecot calls
			// BAD (invalid base64) rather than NO, so the refusal is known
			// from the challenge, not from the status.
			return &AuthError{State: contract.HealthAuthFailed, Code: string(imap.ResponseCodeAuthenticationFailed),
				Message: "IMAP login refused the token: " + x.ServerError}
		}
	} else {
		if c.Caps().Has(imap.CapLoginDisabled) {
			return &AuthError{State: contract.HealthMisconfigured, Code: "LOGINDISABLED", Message: "the IMAP server refuses logins on this connection: use TLS"}
		}
		err = c.Login(a.username, secret).Wait()
	}
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
		code := string(ie.Code)
		switch ie.Code {
		case imap.ResponseCodeUnavailable:
			return fmt.Errorf("the IMAP server cannot log in now: %s", clip(ie.Text))
		case "":
			// Servers that give no code refuse credentials all the same.
			code = string(imap.ResponseCodeAuthenticationFailed)
		}
		return &AuthError{State: contract.HealthAuthFailed, Code: code, Message: "IMAP login refused: " + clip(ie.Text)}
	}
	return err
}

// smtpAuth authenticates c, if the server offers AUTH at all.
func (a *Auth) smtpAuth(ctx context.Context, c *smtp.Client) error {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return nil
	}
	secret, oauth, err := a.credential(ctx)
	if err != nil {
		return err
	}
	offered := strings.Fields(strings.ToUpper(mechs))
	var client sasl.Client
	var x *XOAuth2Client
	switch {
	case oauth:
		x = NewXOAuth2Client(a.username, secret)
		client = x
	case contains(offered, sasl.Plain):
		client = sasl.NewPlainClient("", a.username, secret)
	case contains(offered, sasl.Login):
		client = sasl.NewLoginClient(a.username, secret)
	default:
		return &AuthError{State: contract.HealthMisconfigured, Code: "AUTH", Message: "the SMTP server offers neither AUTH PLAIN nor LOGIN: " + clip(mechs)}
	}
	err = c.Auth(client)
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		switch {
		case se.Code == 535 || se.Code == 534 || se.Code == 530:
			msg := "SMTP login refused: " + clip(se.Message)
			if x != nil && x.ServerError != "" {
				msg += " (" + clip(x.ServerError) + ")"
			}
			return &AuthError{State: contract.HealthAuthFailed, Code: fmt.Sprint(se.Code), Message: msg}
		case se.Code == 504:
			return &AuthError{State: contract.HealthMisconfigured, Code: "504", Message: "the SMTP server refused the login mechanism: " + clip(se.Message)}
		}
	}
	return err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// clip shortens a server's text for a report.
func clip(s string) string { return cleanLine(s, 200) }

// XOAuth2Client is the SASL XOAUTH2 mechanism (Google's and Microsoft's
// bearer-token login for IMAP and SMTP).
type XOAuth2Client struct {
	Username, Token string
	// ServerError is the JSON error the server sent as a challenge when it
	// refused the token, e.g. {"status":"401","schemes":"bearer"}.
	ServerError string
}

// NewXOAuth2Client returns the mechanism for username with token.
func NewXOAuth2Client(username, token string) *XOAuth2Client {
	return &XOAuth2Client{Username: username, Token: token}
}

// Start returns the initial response:
// "user=" + username + "\x01auth=Bearer " + token + "\x01\x01".
func (x *XOAuth2Client) Start() (string, []byte, error) {
	return "XOAUTH2", XOAuth2Response(x.Username, x.Token), nil
}

// Next answers the one challenge a server sends, its error report, with an
// empty response, after which the server fails the exchange.
func (x *XOAuth2Client) Next(challenge []byte) ([]byte, error) {
	if x.ServerError != "" {
		return nil, errors.New("xoauth2: unexpected second challenge")
	}
	x.ServerError = clip(string(challenge))
	if x.ServerError == "" {
		x.ServerError = "(empty)"
	}
	return []byte{}, nil
}

// XOAuth2Response is the XOAUTH2 initial client response, before base64.
func XOAuth2Response(username, token string) []byte {
	return []byte("user=" + username + "\x01auth=Bearer " + token + "\x01\x01")
}
