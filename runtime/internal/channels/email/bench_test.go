package email

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// BenchmarkInitialSync times the first sync of a mailbox of
// EMAIL_BENCH_MESSAGES mails (10,000 by default) into an empty inbox: from
// the engine's start to its position at the last UID, with dovecot
// indexing the maildir it was given on the first iteration. It reports the
// time, mails per second and the peak RSS of this process while it ran
// (VmHWM, reset before). Run it alone:
//
//	go test ./runtime/internal/channels/email -run '^$' -bench InitialSync -benchtime 1x
//
// The mailbox: 500 senders; a third of the mails answer an earlier one
// (References), one in ten is HTML only, one in twenty carries a 40 KiB
// attachment; bodies of 1 to 3 KiB.
func BenchmarkInitialSync(b *testing.B) {
	n := 10000
	if v := os.Getenv("EMAIL_BENCH_MESSAGES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	mail, err := harness.StartDovecot(harness.MailOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(mail.Close)
	if err := mail.FillMaildir("support", "INBOX", n, benchMail); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := storetest.NewDB(b)
		svc := inbox.New(st, live.New(st.Pool, discard()))
		r := &reports{}
		o := Options{
			IMAP: Server{Addr: mail.IMAPSAddr(), Security: TLS}, SMTP: Server{Addr: "127.0.0.1:1", Security: None},
			Auth: Password(mail.Address("support"), mail.Password("support")), FromAddress: mail.Address("support"),
			TLSConfig: mail.TLSConfig(),
		}
		key := contract.ChannelKey("imap", "bench")
		eng, err := New(adapter.Deps{Name: "bench", Key: key, Inbox: svc, Store: st, Log: discard(), Report: r.add}, o)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // resets VmHWM
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		b.StartTimer()
		start := time.Now()
		go func() { eng.Run(ctx); close(done) }()
		for {
			pos, err := eng.position(context.Background(), "INBOX")
			if err != nil {
				b.Fatal(err)
			}
			if pos.lastUID == uint32(n) {
				break
			}
			if time.Since(start) > 30*time.Minute {
				b.Fatalf("synced %d of %d in 30 min (last report %+v)", pos.lastUID, n, r.last())
			}
			time.Sleep(20 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		hwm := vmHWM()
		cancel()
		eng.Close()
		<-done
		var msgs, convs int
		if err := st.Pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT conversation_id) FROM messages WHERE channel = $1`, key).
			Scan(&msgs, &convs); err != nil {
			b.Fatal(err)
		}
		if msgs != n {
			b.Fatalf("stored %d messages of %d", msgs, n)
		}
		b.ReportMetric(elapsed.Seconds(), "s/sync")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "mails/s")
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
		b.Logf("%d mails in %s (%d conversations), peak RSS %d MiB", n, elapsed.Round(time.Millisecond), convs, hwm>>20)
	}
}

// benchMail is the i-th mail of the benchmark's mailbox.
func benchMail(i int) []byte {
	sender := i % 500
	thread := i / 3 // three mails a thread
	var h strings.Builder
	fmt.Fprintf(&h, "From: Customer %d <customer%d@example.net>\r\nTo: support@example.test\r\n", sender, sender)
	fmt.Fprintf(&h, "Date: %s\r\nMessage-ID: <bench-%d@example.net>\r\n", time.Unix(1780000000+int64(i)*60, 0).UTC().Format(time.RFC1123Z), i)
	subject := fmt.Sprintf("Order %d question", thread)
	if i%3 != 0 {
		subject = "Re: " + subject
		fmt.Fprintf(&h, "In-Reply-To: <bench-%d@example.net>\r\nReferences: <bench-%d@example.net>\r\n", i-1, thread*3)
	}
	fmt.Fprintf(&h, "Subject: %s\r\nMIME-Version: 1.0\r\n", subject)
	para := strings.Repeat(fmt.Sprintf("Line %d of a customer's message about their order, with some detail. ", i), 12+i%25)
	switch {
	case i%20 == 7:
		att := bytes.Repeat([]byte{byte(i), 0xff, 0x00, 'x'}, 10<<10)
		fmt.Fprintf(&h, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"+
			"--b%d\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"photo-%d.jpg\"\r\n"+
			"Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b%d--\r\n", i, i, para, i, i, wrap76(base64.StdEncoding.EncodeToString(att)), i)
	case i%10 == 3:
		fmt.Fprintf(&h, "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>%s</p><p><a href=\"https://shop.example/o/%d\">order</a></p></body></html>\r\n", para, thread)
	default:
		fmt.Fprintf(&h, "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", para)
	}
	return []byte(h.String())
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

// vmHWM is this process's peak resident set size since the last reset, in
// bytes.
func vmHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
