package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// deliver sends a reply over SMTP and returns its Message-ID.
func (e *Engine) deliver(ctx context.Context, out inbox.Outbound) (string, error) {
	h, err := e.replyHeaders(ctx, out.MessageID, out.ConversationID, out.Identifier)
	if err != nil {
		return "", err
	}
	if normalizeAddress(h.to) == "" {
		return "", adapter.Permanent(fmt.Errorf("the contact has no email address to reply to (%q)", clip(h.to)))
	}
	files, err := out.LoadFiles(ctx, e.d.Store)
	if err != nil {
		return "", err
	}
	raw, err := e.compose(h, out, files)
	if err != nil {
		return "", adapter.Permanent(err)
	}
	if err := e.send(ctx, h.to, raw); err != nil {
		st := classify(err)
		var se *smtp.SMTPError
		switch {
		case st.state == contract.HealthAuthFailed || st.state == contract.HealthReauthorizationRequired ||
			st.state == contract.HealthMisconfigured:
			e.health.set(sideSMTP, st.state, st.code, st.message)
			return "", adapter.Permanent(err)
		case errors.As(err, &se) && se.Code >= 500:
			// The server refused this mail (an unknown recipient, a size
			// limit): sending it again gets the same answer.
			return "", adapter.Permanent(err)
		case errors.As(err, &se):
			return "", err
		}
		e.health.set(sideSMTP, contract.HealthUnreachable, "", st.message)
		return "", err
	}
	e.health.set(sideSMTP, contract.HealthConnected, "", "")
	e.saveSentCopy(ctx, out.MessageID, raw, h.date)
	return h.messageID, nil
}

// MaxOutboundFiles and MaxOutboundBytes bound the files of one reply: as
// much as a mailbox provider takes once base64 has grown them by a third
// (Gmail and Microsoft 365 take 25 MB and more; Postfix's default is 10 MB,
// and its refusal fails the reply with the server's reason).
const (
	MaxOutboundFiles = 10
	MaxOutboundBytes = 10 << 20
)

var _ inbox.AttachmentSender = (*Engine)(nil)

// AttachmentLimits: replies carry files (inbox.AttachmentSender).
func (e *Engine) AttachmentLimits() (int, int64) { return MaxOutboundFiles, MaxOutboundBytes }

// compose writes the reply as a MIME message: one text/plain part, or
// multipart/mixed with the text first and then each file, base64-encoded.
func (e *Engine) compose(h *outboundHeaders, out inbox.Outbound, files []*store.Attachment) ([]byte, error) {
	var hdr mail.Header
	hdr.SetAddressList("From", []*mail.Address{{Name: e.opts.FromName, Address: e.opts.FromAddress}})
	hdr.SetAddressList("To", []*mail.Address{{Address: h.to}})
	hdr.SetSubject(h.subject)
	h.date = out.CreatedAt
	if h.date.IsZero() {
		h.date = e.d.Clock()
	}
	hdr.SetDate(h.date)
	hdr.SetMessageID(h.messageID)
	if h.inReplyTo != "" {
		hdr.SetMsgIDList("In-Reply-To", []string{h.inReplyTo})
	}
	if len(h.refs) > 0 {
		hdr.SetMsgIDList("References", h.refs)
	}
	hdr.Set("MIME-Version", "1.0")
	body := []byte(strings.ReplaceAll(strings.ReplaceAll(out.Body, "\r\n", "\n"), "\n", "\r\n"))
	var buf bytes.Buffer
	if len(files) == 0 {
		textHeader(&hdr.Header)
		if err := writePart(mail.CreateSingleInlineWriter(&buf, hdr))(body); err != nil {
			return nil, fmt.Errorf("writing the email: %w", err)
		}
		return buf.Bytes(), nil
	}
	mw, err := mail.CreateWriter(&buf, hdr)
	if err != nil {
		return nil, fmt.Errorf("writing the email: %w", err)
	}
	var th mail.InlineHeader
	textHeader(&th.Header)
	if err := writePart(mw.CreateSingleInline(th))(body); err != nil {
		return nil, fmt.Errorf("writing the email: %w", err)
	}
	for _, f := range files {
		var ah mail.AttachmentHeader
		ah.Set("Content-Type", f.ContentType)
		ah.SetFilename(f.Filename)
		ah.Set("Content-Transfer-Encoding", "base64")
		if err := writePart(mw.CreateAttachment(ah))(f.Data); err != nil {
			return nil, fmt.Errorf("writing the email's attachment %d: %w", f.ID, err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("writing the email: %w", err)
	}
	return buf.Bytes(), nil
}

// textHeader makes h the header of a reply's text: UTF-8 plain text,
// quoted-printable.
func textHeader(h *message.Header) {
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
}

// writePart returns a function that writes data to w, a part just created
// (err is its creation's), and closes it.
func writePart(w io.WriteCloser, err error) func(data []byte) error {
	return func(data []byte) error {
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		return w.Close()
	}
}

// send submits raw to the SMTP server for to.
func (e *Engine) send(ctx context.Context, to string, raw []byte) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	addr := e.opts.SMTP.Addr
	dialer := &net.Dialer{Timeout: 30 * time.Second}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connecting to the SMTP server: %w", err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var c *smtp.Client
	switch e.opts.SMTP.Security {
	case TLS:
		tc := tls.Client(conn, e.tlsConfig(addr))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("SMTP TLS handshake: %w", err)
		}
		c = smtp.NewClient(tc)
	case StartTLS:
		c, err = smtp.NewClientStartTLS(conn, e.tlsConfig(addr))
		if err != nil {
			if strings.Contains(err.Error(), "doesn't support STARTTLS") {
				return fmt.Errorf("SMTP: %w", errNoStartTLS)
			}
			return fmt.Errorf("SMTP STARTTLS: %w", err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	if err := e.opts.Auth.smtpAuth(ctx, c); err != nil {
		return err
	}
	if err := c.SendMail(e.opts.FromAddress, []string{to}, bytes.NewReader(raw)); err != nil {
		return err
	}
	// The server took the mail: a failed QUIT must not send it again.
	_ = c.Quit()
	return nil
}

// ReplySubject is "Re: " and the subject, unless it starts with a reply
// marker already.
func ReplySubject(s string) string {
	s = cleanLine(s, 400)
	if s == "" {
		return "Re:"
	}
	if loc := subjectPrefix.FindStringIndex(s); loc != nil && strings.HasPrefix(strings.ToLower(strings.TrimSpace(s)), "re") {
		return s
	}
	return "Re: " + s
}

// newMessageID makes a Message-ID (without brackets) for an outbound
// message: unique, and naming the message for whoever reads the headers.
func newMessageID(messageID int64, domain string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	if domain == "" || strings.ContainsAny(domain, "<>@ \t\r\n") {
		domain = "switchboard.invalid"
	}
	return fmt.Sprintf("sb.%d.%s@%s", messageID, hex.EncodeToString(b[:]), domain)
}
