package email

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// errNoSentMailbox: the server marks no folder \Sent, and none is set.
var errNoSentMailbox = errors.New("the IMAP server marks no folder as \\Sent (RFC 6154): set the Integration's config sentMailbox, or saveSentCopy \"false\"")

// saveSentCopy appends raw, a reply that went out over SMTP at date, to the
// sent-mail folder (Options.SaveSent), marked \Seen. It uses a connection
// of its own, as the session's sits in IDLE on the folder read. A failure
// is logged and nothing more: the reply went, and sending it again for a
// lost copy would send it twice.
func (e *Engine) saveSentCopy(ctx context.Context, messageID int64, raw []byte, date time.Time) {
	if !e.opts.SaveSent {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	box, err := e.appendSent(ctx, raw, date)
	if err != nil {
		if errors.Is(err, errNoSentMailbox) {
			if !e.noSentLogged.Swap(true) {
				e.log.Warn("replies are not copied to a sent-mail folder", "error", err.Error())
			}
			return
		}
		e.log.Warn("copying a sent reply to the sent-mail folder failed; the reply went", "message", messageID, "error", err.Error())
		return
	}
	e.log.Debug("sent reply copied", "message", messageID, "mailbox", box)
}

// appendSent logs in and appends raw to the sent-mail folder, which it
// returns.
func (e *Engine) appendSent(ctx context.Context, raw []byte, date time.Time) (string, error) {
	c, err := e.dialIMAP(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.WaitGreeting(); err != nil {
		return "", fmt.Errorf("IMAP greeting: %w", err)
	}
	if err := e.opts.Auth.imapLogin(ctx, c); err != nil {
		return "", err
	}
	box, err := e.sentMailbox(c)
	if err != nil {
		return "", err
	}
	cmd := c.Append(box, int64(len(raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}, Time: date})
	if _, err := cmd.Write(raw); err != nil {
		_ = cmd.Close()
		return "", fmt.Errorf("IMAP APPEND to %q: %w", box, err)
	}
	if err := cmd.Close(); err != nil {
		return "", fmt.Errorf("IMAP APPEND to %q: %w", box, err)
	}
	if _, err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("IMAP APPEND to %q: %w", box, err)
	}
	_ = c.Logout().Wait()
	return box, nil
}

// sentMailbox is Options.SentMailbox, or the folder the server marks \Sent,
// looked up once per Engine.
func (e *Engine) sentMailbox(c *imapclient.Client) (string, error) {
	if e.opts.SentMailbox != "" {
		return e.opts.SentMailbox, nil
	}
	e.mu.Lock()
	box := e.sentBox
	e.mu.Unlock()
	if box != "" {
		return box, nil
	}
	var opts *imap.ListOptions
	if c.Caps().Has(imap.CapSpecialUse) {
		opts = &imap.ListOptions{ReturnSpecialUse: true}
	}
	list, err := c.List("", "*", opts).Collect()
	if err != nil {
		return "", fmt.Errorf("IMAP LIST: %w", err)
	}
	for _, l := range list {
		if slices.Contains(l.Attrs, imap.MailboxAttrSent) {
			e.mu.Lock()
			e.sentBox = l.Mailbox
			e.mu.Unlock()
			return l.Mailbox, nil
		}
	}
	return "", errNoSentMailbox
}
