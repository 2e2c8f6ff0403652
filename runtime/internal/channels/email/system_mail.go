package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-message/mail"
)

// SendSystemMail sends a plain-text mail of the runtime's own (an email
// address confirmation) from the Integration's address to one recipient,
// over the same SMTP connection settings as replies. It is not part of any
// conversation and is not stored in the inbox.
func (e *Engine) SendSystemMail(ctx context.Context, to, subject, body string) error {
	if e.isClosed() {
		return errors.New("the email Integration is closed")
	}
	if normalizeAddress(to) == "" {
		return errors.New("not an email address")
	}
	var hdr mail.Header
	hdr.SetAddressList("From", []*mail.Address{{Name: e.opts.FromName, Address: e.opts.FromAddress}})
	hdr.SetAddressList("To", []*mail.Address{{Address: to}})
	hdr.SetSubject(cleanLine(subject, 200))
	hdr.SetDate(e.d.Clock())
	hdr.SetMessageID(newMessageID(0, domainOf(e.opts.FromAddress)))
	hdr.Set("Auto-Submitted", "auto-generated")
	hdr.Set("MIME-Version", "1.0")
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Content-Transfer-Encoding", "quoted-printable")
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, hdr)
	if err != nil {
		return fmt.Errorf("writing the email: %w", err)
	}
	body = strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := w.Write([]byte(body)); err != nil {
		return fmt.Errorf("writing the email: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("writing the email: %w", err)
	}
	return e.send(ctx, to, buf.Bytes())
}
