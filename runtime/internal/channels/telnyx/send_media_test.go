package telnyx

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/emulators/telnyxtest"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

// mediaServer serves media links as the runtime's GET /media/{token} does
// (package web tests that route itself): the emulator fetches from it.
func mediaServer(t *testing.T, d *adapter.Deps) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, "/media/")
		a, err := d.Store.MediaLink(r.Context(), token)
		if !ok || err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", a.ContentType)
		_, _ = w.Write(a.Data)
	}))
	t.Cleanup(srv.Close)
	d.PublicURL = srv.URL
}

// TestReplyWithFilesIsAnMMS: files make a reply an MMS whose media_urls
// are links to the runtime, which Telnyx fetches; types carriers do not
// carry are refused before anything is stored.
func TestReplyWithFilesIsAnMMS(t *testing.T) {
	f := setup(t, telnyxtest.Options{}, func(d *adapter.Deps) { mediaServer(t, d) })
	if _, err := f.tx.SendInbound(f.hook.URL, telnyxtest.Inbound{ID: "in-1", From: phone, To: ours, Text: "Photo of the receipt please"}); err != nil {
		t.Fatal(err)
	}
	var conv int64
	if err := f.st.Pool.QueryRow(bg, `SELECT conversation_id FROM messages WHERE external_id = 'in-1'`).Scan(&conv); err != nil {
		t.Fatal(err)
	}
	if info := f.svc.Composer(bg, f.a.Name(), f.a.d.Clock()); info.AttachFiles != MaxMMSFiles || info.AttachBytes != MaxMMSBytes {
		t.Errorf("composer: %+v", info)
	}
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte{9, 8, 7}, 5000)...)
	pdf := []byte("%PDF-1.4 receipt")
	m, err := f.svc.ReplyWithFiles(bg, f.agent, conv, "Here it is.", []inbox.File{
		{Filename: "receipt.jpg", ContentType: "image/jpeg", Data: jpeg}, {Filename: "receipt.pdf", ContentType: "application/pdf", Data: pdf}})
	if err != nil {
		t.Fatal(err)
	}
	(&channels.Worker{Inbox: f.svc, Log: slog.New(slog.DiscardHandler)}).RunOnce(bg)
	sent := f.tx.Sent()
	if len(sent) != 1 {
		t.Fatalf("sent %d messages", len(sent))
	}
	s := sent[0]
	if s.Type != "MMS" || s.Text != "Here it is." || len(s.Media) != 2 ||
		!bytes.Equal(s.Media[0].Data, jpeg) || s.Media[0].ContentType != "image/jpeg" || !bytes.Equal(s.Media[1].Data, pdf) {
		t.Fatalf("sent %+v", s)
	}
	if got := f.message(t, m.ID); str(got.DeliveryStatus) != "sent" || str(got.ExternalID) != s.ID {
		t.Errorf("reply: %s %s", str(got.DeliveryStatus), str(got.ExternalID))
	}
	// The links are tokens, stored only as hashes, that expire.
	for _, u := range []string{s.Media[0].URL, s.Media[1].URL} {
		token := u[strings.LastIndexByte(u, '/')+1:]
		if n := f.count(t, `SELECT count(*) FROM media_links WHERE token_hash = '`+token+`'`); n != 0 || len(token) < 40 {
			t.Errorf("the token %q is stored as it is", token)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM media_links WHERE expires_at > now() + interval '61 minutes'`); n != 0 {
		t.Errorf("%d links outlive an hour", n)
	}
	if _, err := f.st.Pool.Exec(bg, `UPDATE media_links SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(s.Media[0].URL); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("an expired link: %v %v", resp, err)
	}

	before := f.count(t, `SELECT count(*) FROM messages`)
	if _, err := f.svc.ReplyWithFiles(bg, f.agent, conv, "x", []inbox.File{{Filename: "orders.xlsx", ContentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Data: []byte("PK")}}); !errors.Is(err, inbox.ErrAttachments) ||
		!strings.Contains(err.Error(), "MMS does not carry") {
		t.Errorf("a spreadsheet by MMS: %v", err)
	}
	if _, err := f.svc.ReplyWithFiles(bg, f.agent, conv, "x", []inbox.File{{Filename: "big.jpg", ContentType: "image/jpeg", Data: make([]byte, MaxMMSBytes+1)}}); !errors.Is(err, inbox.ErrAttachments) {
		t.Errorf("over 1 MiB by MMS: %v", err)
	}
	if n := f.count(t, `SELECT count(*) FROM messages`); n != before {
		t.Errorf("refused replies stored %d messages", n-before)
	}
}

// TestMMSWithoutPublicURLFails: without a public URL there is nowhere
// Telnyx could fetch the files from: the reply fails and says why.
func TestMMSWithoutPublicURLFails(t *testing.T) {
	f := setup(t, telnyxtest.Options{})
	if _, err := f.tx.SendInbound(f.hook.URL, telnyxtest.Inbound{ID: "in-2", From: phone, To: ours, Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	var conv int64
	if err := f.st.Pool.QueryRow(bg, `SELECT conversation_id FROM messages WHERE external_id = 'in-2'`).Scan(&conv); err != nil {
		t.Fatal(err)
	}
	m, err := f.svc.ReplyWithFiles(bg, f.agent, conv, "", []inbox.File{{Filename: "a.png", ContentType: "image/png", Data: []byte("\x89PNG")}})
	if err != nil {
		t.Fatal(err)
	}
	(&channels.Worker{Inbox: f.svc, Log: slog.New(slog.DiscardHandler)}).RunOnce(bg)
	var status, detail string
	_ = f.st.Pool.QueryRow(bg, `SELECT coalesce(m.delivery_status, ''), coalesce(o.last_error, '') FROM messages m JOIN outbox o ON o.message_id = m.id WHERE m.id = $1`, m.ID).Scan(&status, &detail)
	if status != "failed" || !strings.Contains(detail, "public URL") || len(f.tx.Sent()) != 0 {
		t.Errorf("status %q (%s), %d sent", status, detail, len(f.tx.Sent()))
	}
}

// TestMMSFailureHidesLinks: Telnyx quotes a media URL it could not fetch;
// the reply's failure names the file's path but not the link's token.
func TestMMSFailureHidesLinks(t *testing.T) {
	f := setup(t, telnyxtest.Options{}, func(d *adapter.Deps) {
		srv := httptest.NewServer(http.NotFoundHandler()) // no file is ever there
		t.Cleanup(srv.Close)
		d.PublicURL = srv.URL
	})
	if _, err := f.tx.SendInbound(f.hook.URL, telnyxtest.Inbound{ID: "in-3", From: phone, To: ours, Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	var conv int64
	if err := f.st.Pool.QueryRow(bg, `SELECT conversation_id FROM messages WHERE external_id = 'in-3'`).Scan(&conv); err != nil {
		t.Fatal(err)
	}
	m, err := f.svc.ReplyWithFiles(bg, f.agent, conv, "", []inbox.File{{Filename: "a.png", ContentType: "image/png", Data: []byte("\x89PNG")}})
	if err != nil {
		t.Fatal(err)
	}
	(&channels.Worker{Inbox: f.svc, Log: slog.New(slog.DiscardHandler)}).RunOnce(bg)
	var status, detail, events string
	_ = f.st.Pool.QueryRow(bg, `SELECT coalesce(m.delivery_status, ''), o.last_error, (SELECT string_agg(detail, '|') FROM delivery_events WHERE message_id = m.id)
		FROM messages m JOIN outbox o ON o.message_id = m.id WHERE m.id = $1`, m.ID).Scan(&status, &detail, &events)
	if status != "failed" || !strings.Contains(detail, "/media/[redacted]") {
		t.Fatalf("status %q, detail %q", status, detail)
	}
	var hashes []string
	rows, _ := f.st.Pool.Query(bg, `SELECT token_hash FROM media_links`)
	for rows.Next() {
		var h string
		_ = rows.Scan(&h)
		hashes = append(hashes, h)
	}
	if len(hashes) != 1 || regexp.MustCompile(`/media/[A-Za-z0-9_-]{43}`).MatchString(detail+events) {
		t.Errorf("a link's token in the failure: %q %q", detail, events)
	}
}
