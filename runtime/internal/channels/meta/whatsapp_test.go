package meta

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/emulators/metatest"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

func TestWhatsAppVerificationHandshake(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	resp, err := metatest.Verify(f.waHook, "subscribe", cfg.VerifyToken, "1158201444")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || resp.Body != "1158201444" || !strings.HasPrefix(resp.ContentType, "text/plain") {
		t.Fatalf("verify = %d %q %q", resp.Status, resp.ContentType, resp.Body)
	}
	for _, c := range []struct{ mode, token string }{{"subscribe", "wrong"}, {"subscribe", ""}, {"unsubscribe", cfg.VerifyToken}} {
		resp, err := metatest.Verify(f.waHook, c.mode, c.token, "42")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusForbidden || strings.Contains(resp.Body, "42") {
			t.Errorf("verify(%q, %q) = %d %q, want 403 without the challenge", c.mode, c.token, resp.Status, resp.Body)
		}
	}
}

func TestWhatsAppInboundOfEachKind(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	jpeg := bytes.Repeat([]byte{0xff, 0xd8, 0xff, 0xe0}, 1000)
	pdf := []byte("%PDF-1.4 a small invoice")
	ogg := []byte("OggS voice note")
	img := f.meta.AddMedia(jpeg, "image/jpeg")
	doc := f.meta.AddMedia(pdf, "application/pdf")
	voice := f.meta.AddMedia(ogg, "audio/ogg; codecs=opus")

	msgs := []metatest.WAMessage{
		{From: "15551234567", Name: "Zoë Müller", Text: "Hallo, ist mein Paket unterwegs? 📦"},
		{From: "15551234567", Name: "Zoë Müller", Media: &metatest.WAMedia{Kind: "image", ID: img, Caption: "the damaged box"}},
		{From: "15551234567", Name: "Zoë Müller", Media: &metatest.WAMedia{Kind: "document", ID: doc, Filename: "invoice 42.pdf"}},
		{From: "15551234567", Name: "Zoë Müller", Media: &metatest.WAMedia{Kind: "audio", ID: voice}},
		{From: "15551234567", Name: "Zoë Müller", ButtonReply: &metatest.WAReply{ID: "yes", Title: "Yes, refund me"}},
		{From: "15551234567", Name: "Zoë Müller", ListReply: &metatest.WAReply{ID: "s2", Title: "Express", Description: "2 days"}},
		{From: "15551234567", Name: "Zoë Müller", Button: &metatest.WAButton{Payload: "STOP", Text: "Stop promotions"}},
		{From: "15551234567", Name: "Zoë Müller", Type: "unsupported"},
	}
	// One delivery carries several messages, as Meta batches them.
	f.deliver(f.waHook, f.meta.WhatsAppMessages(msgs...))
	key := f.wa.Name()

	text := f.message(key, msgs[0].ID)
	if text.Body != "Hallo, ist mein Paket unterwegs? 📦" || text.Direction != "incoming" {
		t.Errorf("text = %+v", text)
	}
	conv, err := f.st.ConversationByID(bg, nil, text.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	if conv.ContactName != "Zoë Müller" || conv.Channel != "whatsapp/wa" {
		t.Errorf("conversation = %+v", conv)
	}
	ident, _ := f.st.ContactIdentifier(bg, f.st.Pool, conv.ContactID, key)
	if ident != "+15551234567" {
		t.Errorf("identifier = %q", ident)
	}

	image := f.message(key, msgs[1].ID)
	if image.Body != "the damaged box" || len(image.Attachments) != 1 {
		t.Fatalf("image = %+v", image)
	}
	a, err := f.st.AttachmentData(bg, image.Attachments[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(jpeg)
	if !bytes.Equal(a.Data, jpeg) || a.SHA256 != hex.EncodeToString(sum[:]) || a.ContentType != "image/jpeg" ||
		a.Filename != "image.jpg" || a.Size != int64(len(jpeg)) {
		t.Errorf("image attachment = %s %s %s %d", a.Filename, a.ContentType, a.SHA256, a.Size)
	}
	document := f.message(key, msgs[2].ID)
	if len(document.Attachments) != 1 || document.Attachments[0].Filename != "invoice 42.pdf" || document.Attachments[0].ContentType != "application/pdf" {
		t.Errorf("document = %+v", document.Attachments)
	}
	audio := f.message(key, msgs[3].ID)
	if len(audio.Attachments) != 1 || audio.Attachments[0].Filename != "audio.ogg" || audio.Body != "" {
		t.Errorf("audio = %q %+v", audio.Body, audio.Attachments)
	}
	for i, want := range map[int]string{4: "Yes, refund me", 5: "Express — 2 days", 6: "Stop promotions"} {
		if got := f.message(key, msgs[i].ID).Body; got != want {
			t.Errorf("message %d = %q, want %q", i, got, want)
		}
	}
	if got := f.message(key, msgs[7].ID).Body; !strings.Contains(got, "unsupported") || !strings.Contains(got, "Message type unknown") {
		t.Errorf("unsupported = %q", got)
	}

	// Reactions quote the message they are about; removing one says so.
	react := []metatest.WAMessage{{From: "15551234567", Reaction: &metatest.WAReaction{MessageID: msgs[0].ID, Emoji: "👍"}}}
	f.deliver(f.waHook, f.meta.WhatsAppMessages(react...))
	if got := f.message(key, react[0].ID).Body; got != "Reacted 👍 to “Hallo, ist mein Paket unterwegs? 📦”" {
		t.Errorf("reaction = %q", got)
	}
	unreact := []metatest.WAMessage{{From: "15551234567", Reaction: &metatest.WAReaction{MessageID: msgs[0].ID}}}
	f.deliver(f.waHook, f.meta.WhatsAppMessages(unreact...))
	if got := f.message(key, unreact[0].ID).Body; got != "Removed a reaction" {
		t.Errorf("unreaction = %q", got)
	}
	if n := f.count("conversations"); n != 1 {
		t.Errorf("conversations = %d, want 1", n)
	}
}

func TestWhatsAppMediaTooLargeOrGone(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	big := f.meta.AddMedia(make([]byte, MaxMedia+1), "video/mp4")
	msgs := []metatest.WAMessage{
		{From: "15550001111", Media: &metatest.WAMedia{Kind: "video", ID: big, Caption: "look"}},
		{From: "15550001111", Media: &metatest.WAMedia{Kind: "image", ID: "999999999", MimeType: "image/png"}},
	}
	f.deliver(f.waHook, f.meta.WhatsAppMessages(msgs...))
	if m := f.message(f.wa.Name(), msgs[0].ID); len(m.Attachments) != 0 || !strings.Contains(m.Body, "look") || !strings.Contains(m.Body, "video not stored: larger than 16 MiB") {
		t.Errorf("too large = %q %d", m.Body, len(m.Attachments))
	}
	if m := f.message(f.wa.Name(), msgs[1].ID); len(m.Attachments) != 0 || !strings.Contains(m.Body, "image not stored") {
		t.Errorf("gone = %q", m.Body)
	}
}

func TestWhatsAppRedeliveryMakesOneMessage(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	img := f.meta.AddMedia([]byte("png bytes"), "image/png")
	msgs := []metatest.WAMessage{{From: "15552223333", Name: "Ana", Text: "first"},
		{From: "15552223333", Name: "Ana", Media: &metatest.WAMedia{Kind: "image", ID: img}}}
	body := f.meta.WhatsAppMessages(msgs...)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := f.meta.Deliver(f.waHook, body)
			if err != nil || resp.Status != 200 {
				t.Errorf("delivery: %v %+v", err, resp)
			}
		}()
	}
	wg.Wait()
	f.deliver(f.waHook, body)
	if n := f.count("messages"); n != 2 {
		t.Errorf("messages = %d, want 2", n)
	}
	if n := f.count("attachments"); n != 1 {
		t.Errorf("attachments = %d, want 1", n)
	}
	if n := f.count("contacts"); n != 1 {
		t.Errorf("contacts = %d, want 1", n)
	}
}

func TestWhatsAppOtherPhoneNumberIsIgnored(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	other := metatest.New(func() metatest.Config { c := cfg; c.PhoneNumberID = "999000111222"; return c }())
	defer other.Close()
	f.deliver(f.waHook, other.WhatsAppMessages(metatest.WAMessage{From: "15550001111", Text: "not for us"}))
	if n := f.count("messages"); n != 0 {
		t.Errorf("messages = %d, want 0", n)
	}
}

// refusals are deliveries every Meta adapter must refuse, storing nothing.
func refusals(t *testing.T, f *fixture, url string, good []byte) {
	t.Helper()
	cases := []struct {
		name    string
		body    []byte
		headers map[string]string
		want    int
	}{
		{"missing signature", good, nil, http.StatusUnauthorized},
		{"forged signature", good, map[string]string{"X-Hub-Signature-256": metatest.Sign("not-the-secret", good)}, http.StatusForbidden},
		{"signature of another body", good, map[string]string{"X-Hub-Signature-256": metatest.Sign(f.meta.AppSecret, append([]byte(" "), good...))}, http.StatusForbidden},
		{"sha1 only", good, map[string]string{"X-Hub-Signature": "sha1=0000000000000000000000000000000000000000"}, http.StatusUnauthorized},
		{"not hex", good, map[string]string{"X-Hub-Signature-256": "sha256=zz"}, http.StatusForbidden},
		{"malformed JSON", []byte(`{"object":"page","entry":[`), nil, http.StatusBadRequest},
		{"wrong shape", []byte(`{"object":"whatsapp_business_account","entry":"x"}`), nil, http.StatusBadRequest},
		{"wrong object", []byte(`{"object":"instagram","entry":[]}`), nil, http.StatusBadRequest},
		{"trailing garbage", append(append([]byte{}, good...), []byte(`{}`)...), nil, http.StatusBadRequest},
	}
	for _, c := range cases {
		headers := c.headers
		if headers == nil && c.want == http.StatusBadRequest {
			headers = map[string]string{"X-Hub-Signature-256": metatest.Sign(f.meta.AppSecret, c.body)}
		}
		resp, err := metatest.PostWebhook(url, c.body, headers)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != c.want {
			t.Errorf("%s: %d, want %d", c.name, resp.Status, c.want)
		}
	}
	if n := f.count("messages"); n != 0 {
		t.Errorf("refused deliveries stored %d messages", n)
	}
}

func TestWhatsAppRefusesBadDeliveries(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	refusals(t, f, f.waHook, f.meta.WhatsAppMessages(metatest.WAMessage{From: "15550001111", Text: "hi"}))
	// Well-formed JSON with an invalid message is refused whole.
	bad := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"` +
		cfg.PhoneNumberID + `"},"messages":[{"from":"+1 555","id":"wamid.x","type":"text","text":{"body":"x"}}]}}]}]}`)
	resp, err := f.meta.Deliver(f.waHook, bad)
	if err != nil || resp.Status != http.StatusBadRequest {
		t.Errorf("invalid from: %v %+v", err, resp)
	}
}

func TestWhatsAppStatusesMoveOnlyForward(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	wamid, _, err := f.meta.SendWhatsAppText(f.waHook, "15554445555", "Li", "hi")
	if err != nil {
		t.Fatal(err)
	}
	conv := f.message(f.wa.Name(), wamid).ConversationID

	reply, err := f.svc.Reply(bg, f.agent, conv, "Hello Li, how can we help?")
	if err != nil {
		t.Fatal(err)
	}
	f.flush()
	sent := f.meta.Sent()
	if len(sent) != 1 || sent[0].To != "15554445555" || sent[0].Type != "text" || sent[0].Text != "Hello Li, how can we help?" {
		t.Fatalf("sent = %+v", sent)
	}
	if !strings.Contains(string(sent[0].Raw), `"preview_url":false`) || !strings.Contains(string(sent[0].Raw), `"recipient_type":"individual"`) {
		t.Errorf("request = %s", sent[0].Raw)
	}
	if got := f.externalID(reply.ID); got != sent[0].ID {
		t.Fatalf("external id = %q, want the wamid %q", got, sent[0].ID)
	}
	if f.status(reply.ID) != "sent" {
		t.Fatalf("status = %q", f.status(reply.ID))
	}
	if l := f.waRep.last(); l.state != contract.HealthConnected {
		t.Errorf("a successful send reports %+v", l)
	}

	// read arrives before delivered; a late delivered and a repeated read
	// change nothing.
	st := func(status string) metatest.WAStatus {
		return metatest.WAStatus{ID: sent[0].ID, Status: status, RecipientID: "15554445555"}
	}
	f.deliver(f.waHook, f.meta.WhatsAppStatuses(st("read")))
	f.deliver(f.waHook, f.meta.WhatsAppStatuses(st("delivered"), st("sent"), st("read")))
	if got := f.status(reply.ID); got != "read" {
		t.Errorf("status = %q, want read", got)
	}
	events, err := f.svc.DeliveryEvents(bg, reply.ID)
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, e := range events {
		seq = append(seq, e.Status)
	}
	if strings.Join(seq, ",") != "queued,sent,read" {
		t.Errorf("delivery events = %v", seq)
	}

	// A failure outside the window says so.
	second, err := f.svc.Reply(bg, f.agent, conv, "one more thing")
	if err != nil {
		t.Fatal(err)
	}
	f.flush()
	wamid2 := f.externalID(second.ID)
	f.deliver(f.waHook, f.meta.WhatsAppStatuses(metatest.WAStatus{ID: wamid2, Status: "failed", RecipientID: "15554445555",
		ErrorCode: 131047, ErrorTitle: "Re-engagement message", ErrorDetails: "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}))
	if got := f.status(second.ID); got != "failed" {
		t.Fatalf("status = %q, want failed", got)
	}
	events, _ = f.svc.DeliveryEvents(bg, second.ID)
	if last := events[len(events)-1]; !strings.Contains(last.Detail, "24-hour window") || !strings.Contains(last.Detail, "131047") {
		t.Errorf("failed detail = %q", last.Detail)
	}
	// A status about a message this workspace never sent is ignored.
	f.deliver(f.waHook, f.meta.WhatsAppStatuses(metatest.WAStatus{ID: "wamid.unknown", Status: "delivered", RecipientID: "1555"}))
}

func TestWhatsAppWindowAndTemplates(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	f.meta.SetTemplates(metatest.BodyTemplate("order_update", "en_US", "UTILITY", "Hi {{1}}, your order {{2}} has shipped."))
	if err := f.wa.SyncTemplates(bg); err != nil {
		t.Fatal(err)
	}
	wamid, _, err := f.meta.SendWhatsAppText(f.waHook, "15556667777", "Sam", "where is my order?")
	if err != nil {
		t.Fatal(err)
	}
	conv := f.message(f.wa.Name(), wamid).ConversationID

	f.later(time.Hour)
	if _, err := f.svc.Reply(bg, f.agent, conv, "It left today."); err != nil {
		t.Fatalf("within the window: %v", err)
	}
	info := f.svc.Composer(bg, f.wa.Name(), time.Now())
	if info.Window == nil || !info.Window.FreeForm || len(info.Templates) != 1 || info.Templates[0].Params != 2 {
		t.Errorf("composer = %+v", info)
	}

	f.later(25 * time.Hour)
	_, err = f.svc.Reply(bg, f.agent, conv, "Any news?")
	if !errors.Is(err, inbox.ErrOutsideWindow) || !strings.Contains(err.Error(), "template") {
		t.Fatalf("after 25 h: %v, want ErrOutsideWindow", err)
	}
	tm, err := f.svc.ReplyTemplate(bg, f.agent, conv, inbox.TemplateMessage{Name: "order_update", Language: "en_US", Params: []string{"Sam", "#1042"}},
		"Hi Sam, your order #1042 has shipped.")
	if err != nil {
		t.Fatalf("template after 25 h: %v", err)
	}
	f.flush()
	sent := f.meta.Sent()
	if len(sent) != 2 {
		t.Fatalf("sent = %+v", sent)
	}
	tpl := sent[1].Template
	if sent[1].Type != "template" || tpl == nil || tpl.Name != "order_update" || tpl.Language != "en_US" || tpl.Policy != "deterministic" ||
		strings.Join(tpl.Params, "|") != "Sam|#1042" {
		t.Errorf("template sent = %+v %+v", sent[1], tpl)
	}
	if f.status(tm.ID) != "sent" || f.externalID(tm.ID) != sent[1].ID {
		t.Errorf("template message: %s %s", f.status(tm.ID), f.externalID(tm.ID))
	}
}

func TestWhatsAppTemplateSync(t *testing.T) {
	cfg := metatest.DefaultConfig()
	cfg.TemplatePageSize = 2 // several pages
	f := newFixture(t, cfg)
	media := metatest.BodyTemplate("with_image", "en_US", "MARKETING", "See {{1}}")
	media.Components = append(media.Components, metatest.Component{Type: "HEADER", Format: "IMAGE"})
	named := metatest.BodyTemplate("named", "en_US", "UTILITY", "Hi {{first_name}}")
	named.ParameterFormat = "NAMED"
	rejected := metatest.BodyTemplate("rejected", "en_US", "MARKETING", "Buy now")
	rejected.Status = "REJECTED"
	buttons := metatest.BodyTemplate("survey", "de_DE", "MARKETING", "Wie war es?")
	buttons.Components = append(buttons.Components, metatest.Component{Type: "FOOTER", Text: "Danke"},
		metatest.Component{Type: "BUTTONS", Buttons: []metatest.Button{{Type: "QUICK_REPLY", Text: "Gut"}}})
	f.meta.SetTemplates(metatest.BodyTemplate("welcome", "en_US", "UTILITY", "Welcome!"), media, named, rejected, buttons,
		metatest.BodyTemplate("otp", "en_US", "AUTHENTICATION", "{{1}} is your code"),
		metatest.BodyTemplate("gap", "en_US", "UTILITY", "{{1}} and {{3}}"))

	ctx, cancel := contextWithCancel()
	defer cancel()
	go f.wa.Run(ctx)
	waitFor(t, "first sync", func() bool { ts, _ := f.wa.Templates(bg); return len(ts) == 2 })
	ts, _ := f.wa.Templates(bg)
	if ts[0].Name != "survey" || ts[0].Language != "de_DE" || ts[0].Params != 0 || ts[1].Name != "welcome" {
		t.Errorf("templates = %+v", ts)
	}
	if l := f.waRep.last(); l.state != contract.HealthConnected {
		t.Errorf("sync reports %+v", l)
	}
	pages := 0
	for _, c := range f.meta.Calls() {
		if strings.HasSuffix(c.Path, "/message_templates") {
			pages++
		}
	}
	if pages != 4 {
		t.Errorf("template pages read = %d, want 4", pages)
	}

	// An approval arrives by webhook: the list is read again.
	f.meta.SetTemplates(metatest.BodyTemplate("welcome", "en_US", "UTILITY", "Welcome!"),
		metatest.BodyTemplate("shipped", "en_US", "UTILITY", "Order {{1}} shipped"))
	f.deliver(f.waHook, f.meta.WhatsAppTemplateStatus("shipped", "en_US", "APPROVED"))
	waitFor(t, "resync after the status update", func() bool {
		ts, _ := f.wa.Templates(bg)
		return len(ts) == 2 && ts[0].Name == "shipped" && ts[0].Params == 1
	})
}

func TestWhatsAppAuthFailure(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg, func(typ string, d *adapter.Deps) {
		if typ == "whatsapp" {
			d.Credentials["accessToken"] = "EAArevokedtoken"
		}
	})
	err := f.wa.SyncTemplates(bg)
	if err == nil {
		t.Fatal("a wrong token synced")
	}
	if l := f.waRep.last(); l.state != contract.HealthAuthFailed || l.code != "190" || strings.Contains(l.message, "EAArevokedtoken") {
		t.Errorf("report = %+v", l)
	}
	if _, err := f.wa.Templates(bg); err == nil {
		t.Error("Templates before any successful sync should say why there are none")
	}
	_, err = f.wa.Deliver(bg, inbox.Outbound{MessageID: 1, Identifier: "+15550001111", Body: "hi"})
	if !adapter.IsPermanent(err) || strings.Contains(err.Error(), "EAArevokedtoken") {
		t.Errorf("deliver with a revoked token: %v", err)
	}
}

func TestWhatsAppDeliverErrors(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	out := inbox.Outbound{Identifier: "+15550001111", Body: "hello"}
	for i, c := range []struct {
		fail      metatest.Failure
		permanent bool
		report    string
	}{
		{metatest.FailOutsideWindow, true, ""},
		{metatest.FailUndeliverable, true, ""},
		{metatest.FailThroughput, false, ""},
		{metatest.FailServer, false, ""},
		{metatest.FailTokenExpired, true, contract.HealthAuthFailed},
	} {
		f.meta.FailNext(c.fail)
		out.MessageID = int64(100 + i)
		_, err := f.wa.Deliver(bg, out)
		var ge *GraphError
		if err == nil || !errors.As(err, &ge) || ge.Code != c.fail.Code || adapter.IsPermanent(err) != c.permanent {
			t.Errorf("%d: %v (permanent %v), want code %d permanent %v", c.fail.Code, err, adapter.IsPermanent(err), c.fail.Code, c.permanent)
		}
		if strings.Contains(err.Error(), cfg.WhatsAppToken) {
			t.Errorf("%d: the error names the token", c.fail.Code)
		}
		if c.fail.Code == 131047 && !strings.Contains(err.Error(), "24-hour window") {
			t.Errorf("131047: %v", err)
		}
		if c.report != "" && f.waRep.last().state != c.report {
			t.Errorf("%d: report %+v", c.fail.Code, f.waRep.last())
		}
	}
	out.MessageID, out.Body = 200, strings.Repeat("é", MaxWhatsAppText+1)
	if _, err := f.wa.Deliver(bg, out); !adapter.IsPermanent(err) {
		t.Errorf("a body over 4096 characters: %v", err)
	}
	out.Body = strings.Repeat("é", MaxWhatsAppText)
	id, err := f.wa.Deliver(bg, out)
	if err != nil {
		t.Fatalf("4096 characters: %v", err)
	}
	// A retried delivery of the same reply is not sent twice.
	again, err := f.wa.Deliver(bg, out)
	if err != nil || again != id {
		t.Errorf("retry = %q %v, want %q", again, err, id)
	}
	if n := len(f.meta.Sent()); n != 1 {
		t.Errorf("sent %d messages, want 1", n)
	}
}

func TestCloseDropsCredentials(t *testing.T) {
	cfg := metatest.DefaultConfig()
	f := newFixture(t, cfg)
	for _, a := range []adapter.WebhookReceiver{f.wa, f.ms} {
		if len(a.Credentials()) != 3 {
			t.Fatalf("credentials = %v", a.Credentials())
		}
		a.Close()
		if a.Credentials() != nil {
			t.Errorf("after Close: %v", a.Credentials())
		}
	}
	resp, err := f.meta.Deliver(f.waHook, f.meta.WhatsAppMessages(metatest.WAMessage{From: "15550001111", Text: "hi"}))
	if err != nil || resp.Status != http.StatusInternalServerError {
		t.Errorf("a closed adapter answered %v %+v", err, resp)
	}
	if _, err := f.wa.Deliver(bg, inbox.Outbound{MessageID: 1, Identifier: "+15550001111", Body: "x"}); err == nil {
		t.Error("a closed adapter delivered")
	}
}

func TestFactoriesRefuseIncompleteIntegrations(t *testing.T) {
	for _, c := range []struct {
		typ    string
		config map[string]string
		creds  map[string]string
		want   string
	}{
		{"whatsapp", map[string]string{"phoneNumberId": "1"}, map[string]string{"accessToken": "secret-a", "appSecret": "secret-b"},
			"config businessAccountId, credential verifyToken"},
		{"whatsapp", map[string]string{"phoneNumberId": "1/../2", "businessAccountId": "3"},
			map[string]string{"accessToken": "secret-a", "appSecret": "secret-b", "verifyToken": "secret-c"}, "numeric"},
		{"messenger", map[string]string{}, map[string]string{"pageAccessToken": "secret-a"}, "config pageId, credential appSecret, credential verifyToken"},
	} {
		factory, _ := adapter.Lookup(c.typ)
		_, err := factory(adapter.Deps{Key: c.typ + "/x", Info: contract.ChannelInfo{Type: c.typ, Config: c.config}, Credentials: c.creds})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "secret-") {
			t.Errorf("%s %v: %v", c.typ, c.config, err)
		}
	}
}
