package inbox

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

type textChannel struct{ name string }

func (c textChannel) Name() string { return c.name }
func (c textChannel) Deliver(context.Context, Outbound) (string, error) {
	return "", errors.New("not in this test")
}

type fileChannel struct{ textChannel }

func (fileChannel) AttachmentLimits() (int, int64) { return 2, 100 }

func TestReplyWithFiles(t *testing.T) {
	st := storetest.NewDB(t)
	svc := New(st, live.New(st.Pool, slog.New(slog.DiscardHandler)), textChannel{"sms"}, fileChannel{textChannel{"mail"}})
	convOn := func(channel, who string) int64 {
		r, err := svc.Ingest(ctx, Inbound{Channel: channel, Identifier: who, ExternalID: channel + who, Body: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		return r.Conversation.ID
	}
	sms, mail := convOn("sms", "+15550100"), convOn("mail", "ada@example.test")
	var agent int64
	if err := st.Pool.QueryRow(ctx, `INSERT INTO users (email, name, password_hash, role) VALUES ('a@x.test', 'A', 'x', 'agent') RETURNING id`).Scan(&agent); err != nil {
		t.Fatal(err)
	}
	outgoing := func(conv int64) int {
		var n int
		_ = st.Pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND direction = 'outgoing'`, conv).Scan(&n)
		return n
	}
	pdf := File{Filename: `C:\Users\ada\invoice.pdf`, ContentType: "application/pdf; name=invoice.pdf", Data: []byte("%PDF-1.4 ...")}

	for _, tt := range []struct {
		name  string
		conv  int64
		body  string
		files []File
		want  string
	}{
		{"text-only channel", sms, "here", []File{pdf}, "text only"},
		{"too many", mail, "here", []File{pdf, pdf, pdf}, "at most 2 files"},
		{"too large in all", mail, "here", []File{pdf, {Filename: "big.bin", Data: make([]byte, 95)}}, "at most 100 bytes"},
	} {
		if _, err := svc.ReplyWithFiles(ctx, agent, tt.conv, tt.body, tt.files); !errors.Is(err, ErrAttachments) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrAttachments saying %q", tt.name, err, tt.want)
		}
	}
	if n := outgoing(sms) + outgoing(mail); n != 0 {
		t.Fatalf("refused replies stored %d messages", n)
	}
	if _, err := svc.ReplyWithFiles(ctx, agent, mail, "  ", nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("no text and no file: %v, want ErrEmpty", err)
	}

	// Files alone make a reply; names lose their folders and control
	// characters, types their parameters, and a type that does not parse is
	// detected from the bytes.
	m, err := svc.ReplyWithFiles(ctx, agent, mail, "", []File{pdf, {Filename: "../notes\x07.txt", ContentType: "not a type", Data: []byte("plain words")}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.MessageAttachmentsData(ctx, m.ID)
	if err != nil || len(got) != 2 {
		t.Fatalf("stored attachments: %v, %v", got, err)
	}
	if a := got[0]; a.Filename != "invoice.pdf" || a.ContentType != "application/pdf" || a.Size != int64(len(pdf.Data)) || string(a.Data) != string(pdf.Data) || len(a.SHA256) != 64 {
		t.Errorf("first file: %+v", a)
	}
	if a := got[1]; a.Filename != "notes.txt" || a.ContentType != "text/plain" {
		t.Errorf("second file: %q %q", a.Filename, a.ContentType)
	}
	// The conversation list shows a reply of files alone by their names.
	if c, err := st.ConversationByID(ctx, nil, mail); err != nil || c.Preview != "File: invoice.pdf, notes.txt" {
		t.Errorf("preview of a reply of files: %q, %v", c.Preview, err)
	}
	var payload string
	if err := st.Pool.QueryRow(ctx, `SELECT payload::text FROM outbox WHERE message_id = $1`, m.ID).Scan(&payload); err != nil {
		t.Fatalf("the reply was not queued: %v", err)
	}
	if strings.Contains(payload, "PDF") {
		t.Errorf("the outbox payload carries the file's bytes: %s", payload)
	}
}

func TestCleanFilename(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":             "report.pdf",
		"/etc/passwd":            "passwd",
		`..\..\x.doc`:            "x.doc",
		"..":                     "attachment",
		"  ":                     "attachment",
		"a\r\nb.txt":             "ab.txt",
		"\xff\xfe.txt":           ".txt",
		strings.Repeat("é", 200): strings.Repeat("é", 127),
		"naïve résumé.docx":      "naïve résumé.docx",
	} {
		if got := cleanFilename(in); got != want {
			t.Errorf("cleanFilename(%q) = %q, want %q", in, got, want)
		}
	}
}
