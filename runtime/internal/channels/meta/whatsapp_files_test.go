package meta

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/emulators/metatest"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

// TestWhatsAppReplyWithFile: a reply's file is uploaded to the Graph API's
// media endpoint and sent as the message of its type, the reply's text as
// its caption; files WhatsApp does not send are refused before anything is
// stored, and Messenger replies stay text only.
func TestWhatsAppReplyWithFile(t *testing.T) {
	f := newFixture(t, metatest.DefaultConfig())
	wamid, _, err := f.meta.SendWhatsAppText(f.waHook, "15556667777", "Sam", "Can I have the invoice and a photo of the parcel?")
	if err != nil {
		t.Fatal(err)
	}
	conv := f.message(f.wa.Name(), wamid).ConversationID
	if info := f.svc.Composer(bg, f.wa.Name(), f.now()); info.AttachFiles != 1 {
		t.Errorf("the composer offers %d files", info.AttachFiles)
	}

	pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{0, 0xff, 7}, 20000)...)
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{1, 2, 3}, 1000)...)
	doc, err := f.svc.ReplyWithFiles(bg, f.agent, conv, "Your invoice, Sam.", []inbox.File{{Filename: "invoice-1042.pdf", ContentType: "application/pdf", Data: pdf}})
	if err != nil {
		t.Fatal(err)
	}
	photo, err := f.svc.ReplyWithFiles(bg, f.agent, conv, "", []inbox.File{{Filename: "parcel.png", ContentType: "image/png", Data: png}})
	if err != nil {
		t.Fatal(err)
	}
	f.flush()
	sent := f.meta.Sent()
	if len(sent) != 2 {
		t.Fatalf("sent %d messages: %+v", len(sent), sent)
	}
	d, p := sent[0].Media, sent[1].Media
	if sent[0].Type != "document" || d == nil || d.Filename != "invoice-1042.pdf" || d.Caption != "Your invoice, Sam." ||
		d.MimeType != "application/pdf" || !bytes.Equal(d.Data, pdf) {
		t.Errorf("the document sent: %s %+v", sent[0].Type, d)
	}
	if sent[1].Type != "image" || p == nil || p.Caption != "" || p.Filename != "" || !bytes.Equal(p.Data, png) {
		t.Errorf("the image sent: %s %+v", sent[1].Type, p)
	}
	for i, m := range []int64{doc.ID, photo.ID} {
		if f.status(m) != "sent" || f.externalID(m) != sent[i].ID {
			t.Errorf("reply %d: %s %s, want sent %s", m, f.status(m), f.externalID(m), sent[i].ID)
		}
	}

	// Refused before anything is stored, with what WhatsApp takes.
	before := f.count("messages")
	for _, c := range []struct {
		name  string
		body  string
		files []inbox.File
		want  string
	}{
		{"a type WhatsApp does not send", "x", []inbox.File{{Filename: "orders.csv", ContentType: "text/csv", Data: []byte("a,b")}}, "does not send text/csv"},
		{"an image over 5 MiB", "", []inbox.File{{Filename: "big.jpg", ContentType: "image/jpeg", Data: make([]byte, 5<<20+1)}}, "image files of at most 5 MiB"},
		{"a caption too long", strings.Repeat("é", 1025), []inbox.File{{Filename: "a.pdf", ContentType: "application/pdf", Data: pdf}}, "at most 1024 characters"},
		{"audio with text", "listen", []inbox.File{{Filename: "a.mp3", ContentType: "audio/mpeg", Data: []byte("ID3")}}, "audio without text"},
		{"two files", "", []inbox.File{{Filename: "a.pdf", ContentType: "application/pdf", Data: pdf}, {Filename: "b.pdf", ContentType: "application/pdf", Data: pdf}}, "at most 1 file with"},
	} {
		if _, err := f.svc.ReplyWithFiles(bg, f.agent, conv, c.body, c.files); !errors.Is(err, inbox.ErrAttachments) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrAttachments saying %q", c.name, err, c.want)
		}
	}
	if n := f.count("messages"); n != before {
		t.Errorf("refused replies stored %d messages", n-before)
	}

}

// TestMessengerReplyWithFile: a Messenger reply's file is uploaded with its
// message (filedata) as the attachment type its content type names; a
// file with text is refused, as the Send API takes one or the other.
func TestMessengerReplyWithFile(t *testing.T) {
	f := newFixture(t, metatest.DefaultConfig())
	f.meta.SetProfile(psid, "Jo Nakamura")
	mid := metatest.NewMID()
	f.deliver(f.msHook, f.meta.MessengerMessage(psid, mid, "Can I have the invoice?"))
	conv := f.message(f.ms.Name(), mid).ConversationID
	if info := f.svc.Composer(bg, f.ms.Name(), f.now()); info.AttachFiles != 1 {
		t.Errorf("the composer offers %d files", info.AttachFiles)
	}
	pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{0, 0xff, 7}, 20000)...)
	if _, err := f.svc.ReplyWithFiles(bg, f.agent, conv, "Here it is", []inbox.File{{Filename: "a.pdf", ContentType: "application/pdf", Data: pdf}}); !errors.Is(err, inbox.ErrAttachments) ||
		!strings.Contains(err.Error(), "without text") {
		t.Errorf("a file with text on Messenger: %v", err)
	}
	doc, err := f.svc.ReplyWithFiles(bg, f.agent, conv, "", []inbox.File{{Filename: "invoice 1042.pdf", ContentType: "application/pdf", Data: pdf}})
	if err != nil {
		t.Fatal(err)
	}
	gif, err := f.svc.ReplyWithFiles(bg, f.agent, conv, "", []inbox.File{{Filename: "thanks.gif", ContentType: "image/gif", Data: []byte("GIF89a...")}})
	if err != nil {
		t.Fatal(err)
	}
	f.flush()
	sent := f.meta.Sent()
	if len(sent) != 2 {
		t.Fatalf("sent %d messages: %+v", len(sent), sent)
	}
	for i, want := range []struct {
		kind, name string
		data       []byte
		reply      int64
	}{{"file", "invoice 1042.pdf", pdf, doc.ID}, {"image", "thanks.gif", []byte("GIF89a..."), gif.ID}} {
		m := sent[i].Media
		if m == nil || m.Kind != want.kind || m.Filename != want.name || !bytes.Equal(m.Data, want.data) || sent[i].To != psid || sent[i].MessagingType != "RESPONSE" {
			t.Errorf("attachment %d sent: %+v %+v", i, sent[i], m)
		}
		if f.status(want.reply) != "sent" || f.externalID(want.reply) != sent[i].ID {
			t.Errorf("reply %d: %s %s", want.reply, f.status(want.reply), f.externalID(want.reply))
		}
	}
}
