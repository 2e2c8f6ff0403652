package meta

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/emulators/metatest"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
)

func FuzzVerifySignature(f *testing.F) {
	body := []byte(`{"object":"page","entry":[]}`)
	f.Add("secret", metatest.Sign("secret", body), body)
	f.Add("secret", "sha256=", body)
	f.Add("secret", "sha256=zz", []byte{})
	f.Add("", "", []byte(nil))
	f.Add("s", "sha1=abc", []byte("x"))
	f.Fuzz(func(t *testing.T, secret, header string, body []byte) {
		err := verifySignature(secret, header, body)
		var rej *adapter.Reject
		if err != nil && (!errors.As(err, &rej) || rej.Status < 400 || rej.Status > 499) {
			t.Fatalf("a refusal that is not a 4xx Reject: %v", err)
		}
		// Hex is case-insensitive: the same MAC in capitals is the same MAC.
		if err == nil && !strings.EqualFold(header, metatest.Sign(secret, body)) {
			t.Fatalf("accepted %q for a body it does not sign", header)
		}
		if verifySignature(secret, metatest.Sign(secret, body), body) != nil {
			t.Fatal("refused a correct signature")
		}
	})
}

func FuzzParseWhatsApp(f *testing.F) {
	meta := metatest.New(metatest.DefaultConfig())
	defer meta.Close()
	f.Add(meta.WhatsAppMessages(metatest.WAMessage{From: "15551234567", Name: "Ana", Text: "hi 👋"},
		metatest.WAMessage{From: "15551234567", Reaction: &metatest.WAReaction{MessageID: "wamid.x", Emoji: "👍"}},
		metatest.WAMessage{From: "15551234567", Media: &metatest.WAMedia{Kind: "image", ID: "123", MimeType: "image/jpeg"}},
		metatest.WAMessage{From: "15551234567", ButtonReply: &metatest.WAReply{ID: "a", Title: "A"}}))
	f.Add(meta.WhatsAppStatuses(metatest.WAStatus{ID: "wamid.x", Status: "failed", RecipientID: "1", ErrorCode: 131047, ErrorTitle: "Re-engagement message"}))
	f.Add(meta.WhatsAppTemplateStatus("t", "en_US", "APPROVED"))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":null}]}]}`))
	f.Add([]byte(`{}`))
	cfg := metatest.DefaultConfig()
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parseWhatsApp(body, cfg.PhoneNumberID, cfg.BusinessAccountID)
		if err != nil {
			return
		}
		for _, m := range b.Messages {
			if checkWAMessage(m.waMessage) != nil || !digits(m.From) {
				t.Fatalf("accepted an invalid message %+v", m)
			}
			if med := m.media(); med != nil && !numericID(med.ID) {
				t.Fatalf("a media id that is not a Graph id: %q", med.ID)
			}
			// Describing a message never fails or panics.
			_ = describe(m.waMessage, func(string) string { return "a message" })
		}
		for _, s := range b.Statuses {
			if s.ID == "" || s.Status == "" {
				t.Fatalf("accepted an invalid status %+v", s)
			}
			_ = failureDetail(s.Errors)
		}
	})
}

func FuzzParseMessenger(f *testing.F) {
	meta := metatest.New(metatest.DefaultConfig())
	defer meta.Close()
	f.Add(meta.MessengerMessage("7265849302145873", "m_1", "hi ✓", metatest.MSAttachment{Type: "image", URL: "https://cdn.example/x.png"}))
	f.Add(meta.MessengerDelivery("7265849302145873", time.UnixMilli(1700000000000), "m_1"))
	f.Add(meta.MessengerRead("7265849302145873", time.UnixMilli(1700000000000)))
	f.Add(meta.MessengerEcho("7265849302145873", "m_2", "echo"))
	f.Add(meta.MessengerReaction("7265849302145873", "m_1", "❤"))
	f.Add([]byte(`{"object":"page","entry":[{"id":"112233445566778","messaging":[{"sender":{"id":"1"},"read":{"watermark":-1}}]}]}`))
	cfg := metatest.DefaultConfig()
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := parseMessenger(body, cfg.PageID)
		if err != nil {
			return
		}
		for _, ev := range events {
			if !numericID(ev.Sender.ID) {
				t.Fatalf("accepted sender %q", ev.Sender.ID)
			}
			switch {
			case ev.Message != nil:
				if ev.Message.IsEcho || ev.Message.Mid == "" {
					t.Fatalf("accepted message %+v", ev.Message)
				}
			case ev.Delivery != nil:
				if ev.Delivery.Watermark <= 0 {
					t.Fatal("accepted a delivery without a watermark")
				}
			case ev.Read != nil:
				if ev.Read.Watermark <= 0 {
					t.Fatal("accepted a read without a watermark")
				}
			case ev.Postback == nil && ev.Reaction == nil:
				t.Fatalf("accepted an empty event %+v", ev)
			}
		}
	})
}
