package meta

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/emulators/metatest"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

const psid = "7265849302145873"

func TestMessengerVerificationHandshake(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	resp, err := metatest.Verify(f.msHook, "subscribe", cfg.VerifyToken, "774411")
	if err != nil || resp.Status != 200 || resp.Body != "774411" {
		t.Fatalf("verify = %v %+v", err, resp)
	}
	resp, err = metatest.Verify(f.msHook, "subscribe", cfg.VerifyToken+"x", "774411")
	if err != nil || resp.Status != http.StatusForbidden {
		t.Fatalf("wrong token = %v %+v", err, resp)
	}
}

func TestMessengerInbound(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	f.meta.SetProfile(psid, "Jo Nakamura")
	photo := []byte("\x89PNG a photo of the receipt")
	url := f.meta.AddFile(photo, "image/png", "receipt.png")

	mid := metatest.NewMID()
	f.deliver(f.msHook, f.meta.MessengerMessage(psid, mid, "Here is my receipt ✓", metatest.MSAttachment{Type: "image", URL: url}))
	m := f.message(f.ms.Name(), mid)
	if m.Body != "Here is my receipt ✓" || len(m.Attachments) != 1 || m.Attachments[0].Filename != "receipt.png" ||
		m.Attachments[0].ContentType != "image/png" || m.Attachments[0].Size != int64(len(photo)) {
		t.Fatalf("message = %+v %+v", m, m.Attachments)
	}
	conv, _ := f.st.ConversationByID(bg, nil, m.ConversationID)
	if conv.ContactName != "Jo Nakamura" {
		t.Errorf("contact = %q", conv.ContactName)
	}

	// A redelivery, an echo of the Page's own message, and a Page we are
	// not store nothing more.
	f.deliver(f.msHook, f.meta.MessengerMessage(psid, mid, "Here is my receipt ✓", metatest.MSAttachment{Type: "image", URL: url}))
	f.deliver(f.msHook, f.meta.MessengerEcho(psid, metatest.NewMID(), "our own reply"))
	other := metatest.New(func() metatest.Config { c := cfg; c.PageID = "998877665544"; return c }())
	defer other.Close()
	f.deliver(f.msHook, other.MessengerMessage(psid, "", "to another page"))
	if n := f.count("messages"); n != 1 {
		t.Errorf("messages = %d, want 1", n)
	}

	// A missing attachment is noted; reactions and button presses arrive as text.
	gone := metatest.NewMID()
	f.deliver(f.msHook, f.meta.MessengerMessage(psid, gone, "", metatest.MSAttachment{Type: "file", URL: f.meta.URL + "/cdn/404/x.pdf"}))
	if got := f.message(f.ms.Name(), gone).Body; !strings.Contains(got, "file not stored") {
		t.Errorf("missing file = %q", got)
	}
	f.deliver(f.msHook, f.meta.MessengerReaction(psid, mid, "❤"))
	f.deliver(f.msHook, f.meta.MessengerPostback(psid, "m_postback1", "Talk to a human", "HUMAN"))
	msgs, _ := f.st.Messages(bg, m.ConversationID)
	var bodies []string
	for _, x := range msgs {
		bodies = append(bodies, x.Body)
	}
	got := strings.Join(bodies, "|")
	if !strings.Contains(got, "Reacted ❤ to “Here is my receipt ✓”") || !strings.Contains(got, "Talk to a human") {
		t.Errorf("bodies = %q", got)
	}
}

func TestMessengerRefusesBadDeliveries(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	refusals(t, f, f.msHook, f.meta.MessengerMessage(psid, "", "hi"))
}

func TestMessengerWatermarksMoveForward(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	mid, _, err := f.meta.SendMessengerText(f.msHook, psid, "hello?")
	if err != nil {
		t.Fatal(err)
	}
	conv := f.message(f.ms.Name(), mid).ConversationID
	r1, err := f.svc.Reply(bg, f.agent, conv, "Hi! One moment.")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := f.svc.Reply(bg, f.agent, conv, "Found it.")
	if err != nil {
		t.Fatal(err)
	}
	f.flush()
	sent := f.meta.Sent()
	if len(sent) != 2 || sent[0].MessagingType != "RESPONSE" || sent[0].Tag != "" || sent[0].To != psid {
		t.Fatalf("sent = %+v", sent)
	}
	if f.externalID(r1.ID) == "" || f.externalID(r2.ID) == "" {
		t.Fatal("the mids were not recorded")
	}
	watermark := time.Now().Add(time.Second)
	// A reply written after the watermark is not covered by it.
	r3, err := f.svc.Reply(bg, f.agent, conv, "Anything else?")
	if err != nil {
		t.Fatal(err)
	}
	f.flush()
	if _, err := f.st.Pool.Exec(bg, `UPDATE messages SET created_at = $2 WHERE id = $1`, r3.ID, watermark.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	// read comes first; the late delivery receipt does not undo it.
	f.deliver(f.msHook, f.meta.MessengerRead(psid, watermark))
	f.deliver(f.msHook, f.meta.MessengerDelivery(psid, watermark))
	for _, r := range []int64{r1.ID, r2.ID} {
		if got := f.status(r); got != "read" {
			t.Errorf("message %d = %q, want read", r, got)
		}
	}
	if got := f.status(r3.ID); got != "sent" {
		t.Errorf("a message after the watermark = %q, want sent", got)
	}
	// Delivery naming the mid moves the later one too.
	f.deliver(f.msHook, f.meta.MessengerDelivery(psid, watermark, f.externalID(r3.ID)))
	if got := f.status(r3.ID); got != "delivered" {
		t.Errorf("by mid = %q, want delivered", got)
	}
	events, _ := f.svc.DeliveryEvents(bg, r1.ID)
	if len(events) != 3 { // queued, sent, read
		t.Errorf("events = %+v", events)
	}
}

func TestMessengerWindow(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	mid, _, err := f.meta.SendMessengerText(f.msHook, psid, "are you open on sunday?")
	if err != nil {
		t.Fatal(err)
	}
	conv := f.message(f.ms.Name(), mid).ConversationID

	f.later(3 * 24 * time.Hour)
	if _, err := f.svc.Reply(bg, f.agent, conv, "Sorry for the wait: yes, 10 to 4."); err != nil {
		t.Fatalf("3 days later: %v", err)
	}
	f.flush()
	sent := f.meta.Sent()
	if len(sent) != 1 || sent[0].MessagingType != "MESSAGE_TAG" || sent[0].Tag != "HUMAN_AGENT" {
		t.Fatalf("3 days later sent %+v", sent)
	}
	if !strings.Contains(string(sent[0].Raw), `"tag":"HUMAN_AGENT"`) {
		t.Errorf("request = %s", sent[0].Raw)
	}

	f.later(8 * 24 * time.Hour)
	if _, err := f.svc.Reply(bg, f.agent, conv, "Still there?"); !errors.Is(err, inbox.ErrOutsideWindow) || !strings.Contains(err.Error(), "7 days") {
		t.Fatalf("8 days later: %v, want ErrOutsideWindow", err)
	}
	info := f.svc.Composer(bg, f.ms.Name(), time.Now())
	if info.Window == nil || info.Window.FreeForm || info.Window.Templates || info.Templates != nil {
		t.Errorf("composer after 8 days = %+v", info)
	}

	// A reply queued inside the window that leaves after it is refused for good.
	f.later(time.Hour)
	late, err := f.svc.Reply(bg, f.agent, conv, "Queued in time")
	if err != nil {
		t.Fatal(err)
	}
	f.later(8 * 24 * time.Hour)
	f.flush()
	if got := f.status(late.ID); got != "failed" {
		t.Errorf("a reply leaving after 7 days = %q, want failed", got)
	}
	if n := len(f.meta.Sent()); n != 1 {
		t.Errorf("sent %d, want 1", n)
	}

	if w := f.ms.ReplyWindow(time.Now(), time.Now().Add(23*time.Hour)); !w.FreeForm || w.Tag != "" {
		t.Errorf("23 h: %+v", w)
	}
	if w := f.ms.ReplyWindow(time.Time{}, time.Now()); w.FreeForm {
		t.Errorf("never wrote: %+v", w)
	}
}

func TestMessengerAuthFailureAndRedaction(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	if err := f.ms.CheckPage(bg); err != nil {
		t.Fatal(err)
	}
	if l := f.msRep.last(); l.state != contract.HealthConnected || !strings.Contains(l.message, cfg.PageName) {
		t.Errorf("report = %+v", l)
	}
	bad := newFixture(t, cfg, func(typ string, d *adapter.Deps) {
		if typ == "messenger" {
			d.Credentials["pageAccessToken"] = "EAAwrongpagetoken"
		}
	})
	if err := bad.ms.CheckPage(bg); err == nil {
		t.Fatal("a wrong page token worked")
	}
	if l := bad.msRep.last(); l.state != contract.HealthAuthFailed || l.code != "190" {
		t.Errorf("report = %+v", l)
	}

	// The page token travels in the query: a transport error must not show it.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	down := newFixture(t, cfg, func(typ string, d *adapter.Deps) { d.Info.Config["apiBaseURL"] = dead.URL })
	err := down.ms.CheckPage(bg)
	if err == nil || strings.Contains(err.Error(), cfg.PageAccessToken) || strings.Contains(err.Error(), "appsecret_proof=") {
		t.Errorf("transport error = %v", err)
	}
	if l := down.msRep.last(); l.state != contract.HealthUnreachable || strings.Contains(l.message, cfg.PageAccessToken) {
		t.Errorf("report = %+v", l)
	}
}

func TestMessengerSendErrors(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	mid, _, err := f.meta.SendMessengerText(f.msHook, psid, "hi")
	if err != nil {
		t.Fatal(err)
	}
	conv := f.message(f.ms.Name(), mid).ConversationID
	out := inbox.Outbound{MessageID: 1, ConversationID: conv, Identifier: psid, Body: "hello"}
	f.meta.FailNext(metatest.FailMessengerWindow)
	if _, err := f.ms.Deliver(bg, out); !adapter.IsPermanent(err) || !strings.Contains(err.Error(), "window") {
		t.Errorf("outside the window: %v", err)
	}
	f.meta.FailNext(metatest.FailServer)
	if _, err := f.ms.Deliver(bg, out); err == nil || adapter.IsPermanent(err) {
		t.Errorf("a server error: %v", err)
	}
	f.meta.FailNext(metatest.FailTokenExpired)
	if _, err := f.ms.Deliver(bg, out); !adapter.IsPermanent(err) || strings.Contains(err.Error(), cfg.PageAccessToken) {
		t.Errorf("190: %v", err)
	}
	if l := f.msRep.last(); l.state != contract.HealthAuthFailed || l.code != "190" {
		t.Errorf("report = %+v", l)
	}
	out.Body = strings.Repeat("x", MaxMessengerText+1)
	if _, err := f.ms.Deliver(bg, out); !adapter.IsPermanent(err) {
		t.Errorf("too long: %v", err)
	}
	if n := len(f.meta.Sent()); n != 0 {
		t.Errorf("sent %d", n)
	}
}

// The emulator's status webhook plays Meta's receipts, as make dev uses it.
func TestEmulatorReportsStatuses(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	for _, c := range []struct {
		hook    string
		channel string
		inbound func() string
		want    string
	}{
		{f.waHook, f.wa.Name(), func() string { id, _, _ := f.meta.SendWhatsAppText(f.waHook, "15559990000", "Kai", "hi"); return id }, "delivered"},
		{f.msHook, f.ms.Name(), func() string { id, _, _ := f.meta.SendMessengerText(f.msHook, psid, "hi"); return id }, "delivered"},
	} {
		f.meta.SetStatusWebhook(c.hook)
		conv := f.message(c.channel, c.inbound()).ConversationID
		r, err := f.svc.Reply(bg, f.agent, conv, "hello")
		if err != nil {
			t.Fatal(err)
		}
		f.flush()
		waitFor(t, c.channel+" receipts", func() bool { return f.status(r.ID) == c.want })
	}
}

// TestLostAnswersAreUnconfirmed: Meta took the message, and the connection
// broke before its answer came. Meta's send APIs have no idempotency key,
// so WhatsApp and Messenger report it Unconfirmed (the outbox does not
// repeat it); a 2xx whose answer does not parse went out all the same.
func TestLostAnswersAreUnconfirmed(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	mid, _, err := f.meta.SendMessengerText(f.msHook, psid, "hi")
	if err != nil {
		t.Fatal(err)
	}
	conv := f.message(f.ms.Name(), mid).ConversationID
	for i, ch := range []inbox.Channel{f.wa, f.ms} {
		if _, ok := ch.(inbox.AtMostOnce); !ok {
			t.Errorf("%s is not AtMostOnce", ch.Name())
		}
		identifier := psid
		if ch == inbox.Channel(f.wa) {
			identifier = "+15550001111"
		}
		f.meta.FailNext(metatest.Failure{Drop: true})
		_, err := ch.Deliver(bg, inbox.Outbound{MessageID: int64(300 + i), ConversationID: conv, Identifier: identifier, Body: "hello"})
		if !adapter.IsUnconfirmed(err) || adapter.IsPermanent(err) {
			t.Errorf("%s, answer lost: %v (unconfirmed %v)", ch.Name(), err, adapter.IsUnconfirmed(err))
		}
		if err != nil && (strings.Contains(err.Error(), cfg.PageAccessToken) || strings.Contains(err.Error(), cfg.WhatsAppToken)) {
			t.Errorf("%s: the error names a token", ch.Name())
		}
	}
	if n := len(f.meta.Sent()); n != 2 {
		t.Fatalf("Meta got %d messages, want 2", n)
	}

	// A refused connection sent nothing: an ordinary retry.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	g := &graph{base: closed.URL, client: http.DefaultClient}
	err = deliveryError(g.call(bg, "token", "secret", http.MethodPost, "1/messages", nil, map[string]string{}, nil), func(string, string, string) {})
	if err == nil || adapter.IsUnconfirmed(err) || adapter.IsPermanent(err) {
		t.Errorf("refused connection: %v (unconfirmed %v)", err, adapter.IsUnconfirmed(err))
	}
	// A 2xx that does not parse: accepted.
	garbled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) }))
	defer garbled.Close()
	var out struct{}
	if err := (&graph{base: garbled.URL, client: http.DefaultClient}).call(bg, "t", "s", http.MethodPost, "1/messages", nil, map[string]string{}, &out); !wasAccepted(err) {
		t.Errorf("a 2xx that does not parse: %v, want accepted", err)
	}
}

// TestWhatsAppLostAnswerConfirmedByItsStatus: the send's answer was lost, so
// the reply is unconfirmed; WhatsApp's status reports carry the send's
// biz_opaque_callback_data, which names the message, so they give it its
// wamid and settle it as delivered.
func TestWhatsAppLostAnswerConfirmedByItsStatus(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	f.meta.SetStatusWebhook(f.waHook)
	in, _, err := f.meta.SendWhatsAppText(f.waHook, "15559990000", "Kai", "hi")
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.Reply(bg, f.agent, f.message(f.wa.Name(), in).ConversationID, "hello")
	if err != nil {
		t.Fatal(err)
	}
	f.meta.FailNext(metatest.Failure{Drop: true})
	f.flush()
	// Unconfirmed until the reports come, 300 ms later (on a slow machine
	// they may come first, and the attempt's outcome then yields to them).
	if s := f.status(r.ID); s != "unconfirmed" && s != "sent" && s != "delivered" {
		t.Fatalf("status %s right after the lost answer, want unconfirmed", s)
	}
	waitFor(t, "the status reports", func() bool { return f.status(r.ID) == "delivered" })
	sent := f.meta.Sent()
	if len(sent) != 1 || sent[0].CallbackData != callbackData(r.ID) {
		t.Fatalf("sent %+v", sent)
	}
	var ext string
	if err := f.st.Pool.QueryRow(bg, `SELECT coalesce(external_id, '') FROM messages WHERE id = $1`, r.ID).Scan(&ext); err != nil || ext != sent[0].ID {
		t.Fatalf("external id %q (%v), want %s", ext, err, sent[0].ID)
	}
	// Callback data that names no message of this channel adopts nothing.
	for _, data := range []string{"", "switchboard:message:x", "switchboard:message:999999", "other:1"} {
		if id, ok := parseCallbackData(data); ok && id != 999999 {
			t.Errorf("%q parsed as %d", data, id)
		}
	}
	f.deliver(f.waHook, f.meta.WhatsAppStatuses(metatest.WAStatus{ID: "wamid.unknown", Status: "read", RecipientID: "15559990000",
		CallbackData: callbackData(999999)}))
	if n := f.count("messages WHERE external_id = 'wamid.unknown'"); n != 0 {
		t.Fatalf("a report for no message adopted %d", n)
	}
}
