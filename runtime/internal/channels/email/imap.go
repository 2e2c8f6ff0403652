package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Run syncs the mailbox until ctx ends or the Engine is closed,
// reconnecting with backoff.
func (e *Engine) Run(ctx context.Context) {
	wait := e.opts.RetryMin
	for ctx.Err() == nil && !e.isClosed() {
		start := time.Now()
		synced, err := e.session(ctx)
		if ctx.Err() != nil || e.isClosed() {
			return
		}
		if errors.Is(err, errRenew) {
			wait = e.opts.RetryMin
			continue
		}
		st := classify(err)
		e.health.set(sideIMAP, st.state, st.code, st.message)
		e.log.Warn("email session ended", "state", st.state, "code", st.code, "error", st.message)
		// A session that worked for a while starts the backoff afresh.
		if synced && time.Since(start) > e.opts.RetryMax {
			wait = e.opts.RetryMin
		}
		d := wait + rand.N(wait/4+1)
		if st.state == contract.HealthAuthFailed || st.state == contract.HealthReauthorizationRequired {
			d = max(d, e.opts.AuthRetry)
		}
		wait = min(wait*2, e.opts.RetryMax)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// session is one IMAP connection: log in, select, sync, then wait for new
// mail and sync again until the connection or ctx ends. synced says the
// first sync went through.
func (e *Engine) session(ctx context.Context) (synced bool, err error) {
	start := time.Now()
	c, err := e.dialIMAP(ctx)
	if err != nil {
		return false, err
	}
	defer c.Close()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return false, errClosed
	}
	e.conn = c
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.conn = nil
		e.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	if err := c.WaitGreeting(); err != nil {
		return false, fmt.Errorf("IMAP greeting: %w", err)
	}
	if err := e.opts.Auth.imapLogin(ctx, c); err != nil {
		return false, err
	}
	sel, err := c.Select(e.opts.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) {
			return false, &mailboxError{mailbox: e.opts.Mailbox, code: string(ie.Code), text: clip(ie.Text)}
		}
		return false, err
	}
	e.health.set(sideIMAP, contract.HealthConnected, "", "")
	if err := e.sync(ctx, c, sel.UIDValidity); err != nil {
		return false, err
	}
	idle := !e.opts.NoIdle && c.Caps().Has(imap.CapIdle)
	level := slog.LevelDebug
	if !e.synced.Swap(true) {
		level = slog.LevelInfo // the first time only: a session starts every IdleRestart
	}
	e.log.Log(ctx, level, "mailbox synced", "mailbox", e.opts.Mailbox, "idle", idle)
	for {
		if idle {
			err = e.idle(ctx, c, e.opts.IdleRestart-time.Since(start))
		} else {
			err = e.poll(ctx, c)
		}
		if err != nil {
			return true, err
		}
		if err := e.sync(ctx, c, sel.UIDValidity); err != nil {
			return true, err
		}
		if time.Since(start) >= e.opts.IdleRestart {
			// A mailbox deleted and created again under an open session is
			// not always announced (dovecot goes on serving its old view):
			// a new session selects it afresh, and sees a new UIDVALIDITY.
			_ = c.Logout().Wait()
			return true, errRenew
		}
	}
}

// errRenew ends a session that lasted IdleRestart: the next one starts at
// once, with nothing to report.
var errRenew = errors.New("session renewed")

func (e *Engine) dialIMAP(ctx context.Context) (*imapclient.Client, error) {
	opts := &imapclient.Options{
		TLSConfig: e.tlsConfig(e.opts.IMAP.Addr),
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					select {
					case e.wake <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: time.Minute}
	conn, err := dialer.DialContext(ctx, "tcp", e.opts.IMAP.Addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to the IMAP server: %w", err)
	}
	switch e.opts.IMAP.Security {
	case TLS:
		cfg := opts.TLSConfig
		cfg.NextProtos = []string{"imap"}
		tc := tls.Client(conn, cfg)
		hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("IMAP TLS handshake: %w", err)
		}
		return imapclient.New(tc, opts), nil
	case StartTLS:
		c, err := imapclient.NewStartTLS(conn, opts)
		if err != nil {
			var cv *tls.CertificateVerificationError
			if errors.As(err, &cv) {
				return nil, fmt.Errorf("IMAP STARTTLS: %w", err)
			}
			var ie *imap.Error
			if errors.As(err, &ie) {
				return nil, fmt.Errorf("IMAP STARTTLS: %w: %s", errNoStartTLS, clip(ie.Text))
			}
			return nil, fmt.Errorf("IMAP STARTTLS: %w", err)
		}
		return c, nil
	default:
		return imapclient.New(conn, opts), nil
	}
}

// idle waits in IDLE for the mailbox to change, at most limit.
func (e *Engine) idle(ctx context.Context, c *imapclient.Client, limit time.Duration) error {
	cmd, err := c.Idle()
	if err != nil {
		return fmt.Errorf("IMAP IDLE: %w", err)
	}
	t := time.NewTimer(max(limit, 0))
	defer t.Stop()
	select {
	case <-e.wake:
		e.log.Debug("the mailbox changed")
	case <-t.C:
	case <-ctx.Done():
	case <-c.Closed():
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("ending IMAP IDLE: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("IMAP IDLE: %w", err)
	}
	return ctx.Err()
}

// poll waits PollInterval, then asks the server for news with NOOP.
func (e *Engine) poll(ctx context.Context, c *imapclient.Client) error {
	t := time.NewTimer(e.opts.PollInterval)
	defer t.Stop()
	select {
	case <-t.C:
	case <-e.wake:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.Closed():
		return errors.New("the IMAP server closed the connection")
	}
	if err := c.Noop().Wait(); err != nil {
		return fmt.Errorf("IMAP NOOP: %w", err)
	}
	return nil
}

// sync stores every mail above the stored position, batch by batch,
// moving the position after each batch.
func (e *Engine) sync(ctx context.Context, c *imapclient.Client, uidValidity uint32) error {
	mailbox := e.opts.Mailbox
	pos, err := e.position(ctx, mailbox)
	if err != nil {
		return err
	}
	if pos.uidValidity != uidValidity {
		if pos.known {
			e.log.Info("the mailbox's UIDVALIDITY changed: reading it again from the start",
				"mailbox", mailbox, "old", pos.uidValidity, "new", uidValidity)
		}
		pos = position{known: true, uidValidity: uidValidity}
		if err := e.setPosition(ctx, mailbox, pos); err != nil {
			return err
		}
	}
	// Drain a wake-up that this sync answers.
	select {
	case <-e.wake:
	default:
	}
	var set imap.UIDSet
	set.AddRange(imap.UID(pos.lastUID+1), 0)
	list, err := c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return fmt.Errorf("listing new mail: %w", err)
	}
	type item struct {
		uid  imap.UID
		size int64
	}
	var todo []item
	for _, m := range list {
		// <last+1>:* includes the top message even when its UID is lower.
		if uint32(m.UID) > pos.lastUID {
			todo = append(todo, item{m.UID, m.RFC822Size})
		}
	}
	slices.SortFunc(todo, func(a, b item) int { return int(a.uid) - int(b.uid) })
	for len(todo) > 0 {
		n := min(len(todo), e.opts.FetchBatch)
		batch := todo[:n]
		todo = todo[n:]
		var whole, header imap.UIDSet
		sizes := map[imap.UID]int64{}
		for _, it := range batch {
			sizes[it.uid] = it.size
			if it.size > e.opts.MaxMessage {
				header.AddNum(it.uid)
			} else {
				whole.AddNum(it.uid)
			}
		}
		raws := map[imap.UID][]byte{}
		if len(whole) > 0 {
			if err := e.fetch(c, whole, &imap.FetchItemBodySection{Peek: true}, raws); err != nil {
				return err
			}
		}
		if len(header) > 0 {
			if err := e.fetch(c, header, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}, raws); err != nil {
				return err
			}
		}
		for _, it := range batch {
			raw, ok := raws[it.uid]
			if !ok {
				// Expunged since it was listed.
				continue
			}
			note := ""
			if sizes[it.uid] > e.opts.MaxMessage {
				note = fmt.Sprintf("(this email is %d MiB, more than the %d MiB kept: only its header was read; open it in the mailbox)",
					sizes[it.uid]>>20, e.opts.MaxMessage>>20)
			}
			if err := e.store(ctx, raw, note); err != nil {
				return fmt.Errorf("storing UID %d: %w", it.uid, err)
			}
		}
		pos.lastUID = uint32(batch[len(batch)-1].uid)
		if err := e.setPosition(ctx, mailbox, pos); err != nil {
			return err
		}
	}
	return nil
}

// fetch reads one section of the messages in set into raws, by UID.
func (e *Engine) fetch(c *imapclient.Client, set imap.UIDSet, section *imap.FetchItemBodySection, raws map[imap.UID][]byte) error {
	cmd := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		var uid imap.UID
		var raw []byte
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					continue
				}
				b, err := io.ReadAll(io.LimitReader(it.Literal, e.opts.MaxMessage+1))
				if err != nil {
					cmd.Close()
					return fmt.Errorf("fetching mail: %w", err)
				}
				raw = b
			}
		}
		if uid != 0 && raw != nil {
			raws[uid] = raw
		}
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("fetching mail: %w", err)
	}
	return nil
}

// store threads one mail and hands it to the inbox. Only a failure of the
// database is an error: a mail that cannot be stored as it is (no sender)
// is logged and passed over.
func (e *Engine) store(ctx context.Context, raw []byte, note string) error {
	m := ParseMessage(raw, e.opts.Limits)
	if note != "" {
		m.Body = truncateBody(m.Body+"\n\n"+note, inbox.MaxBody)
	}
	if m.From == "" {
		e.log.Warn("an email without a sender address was not stored", "messageId", m.MessageID)
		return nil
	}
	if m.From == normalizeAddress(e.opts.FromAddress) {
		// Our own mail (a copy in the mailbox): the inbox has it already.
		return nil
	}
	if m.Body == "" && len(m.Attachments) == 0 {
		m.Body = "(no text)"
	}
	ext := ExternalID(m.MessageID, raw)
	convID, newConv, err := e.thread(ctx, m)
	if err != nil {
		return err
	}
	res, err := e.d.Inbox.Ingest(ctx, inbox.Inbound{
		Channel: e.d.Key, Identifier: m.From, ContactName: m.FromName, ExternalID: ext,
		Subject: m.Subject, Body: m.Body, Attachments: m.Attachments,
		ConversationID: convID, NewConversation: newConv,
	})
	if err != nil {
		if errors.Is(err, inbox.ErrEmpty) || errors.Is(err, inbox.ErrTooLong) || errors.Is(err, store.ErrInvalid) {
			e.log.Warn("an email the inbox refused was not stored", "messageId", m.MessageID, "error", err.Error())
			return nil
		}
		return err
	}
	return e.recordInbound(ctx, res.Message.ID, m)
}
