package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

// mailChannel is an email-like channel: replies carry files.
type mailChannel struct{ *fakeChannel }

func (mailChannel) AttachmentLimits() (int, int64) { return 3, 1 << 20 }

// multipartReply posts the composer's form with files, as composer.js does.
func (f *fixture) multipartReply(t *testing.T, conv int64, body string, files map[string][]byte) *http.Response {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("csrf", f.csrf[auth.Agent])
	_ = w.WriteField("body", body)
	for name, data := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="files"; filename=%q`, name))
		h.Set("Content-Type", "application/octet-stream")
		p, _ := w.CreatePart(h)
		_, _ = p.Write(data)
	}
	_ = w.Close()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/inbox/conversations/%d/reply", f.ts.URL, conv), &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("HX-Request", "true")
	req.AddCookie(f.sessions[auth.Agent])
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestReplyWithFiles(t *testing.T) {
	f := newFixture(t)
	_, _, _, smsConv := withChannels(t, f)
	mail := &fakeChannel{name: "imap/desk"}
	resolve := f.srv.Inbox.Resolve
	f.srv.Inbox.Resolve = func(name string) (inbox.Channel, bool) {
		if name == mail.name {
			return mailChannel{mail}, true
		}
		return resolve(name)
	}
	res, err := f.srv.Inbox.Ingest(bg, inbox.Inbound{Channel: mail.name, Identifier: "grace@example.test", ContactName: "Grace", ExternalID: "<m1@x>", Body: "The invoice?"})
	if err != nil {
		t.Fatal(err)
	}
	conv := res.Conversation.ID

	// The composer offers files where the channel sends them, and only there.
	page := f.page(t, conv)
	for _, want := range []string{`enctype="multipart/form-data"`, `data-testid="attach"`, "up to 3 files, 1 MiB in all", `data-max-bytes="1048576"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the email composer lacks %s:\n%s", want, excerpt(page, "composer"))
		}
	}
	if page := f.page(t, smsConv); strings.Contains(page, `data-testid="attach"`) || strings.Contains(page, "multipart/form-data") {
		t.Errorf("the SMS composer offers files")
	}

	// Sent from the page: stored with the reply, shown in the thread,
	// downloadable, and delivered with the reply.
	pdf := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)
	if r := f.multipartReply(t, conv, "Here you are.", map[string][]byte{"invoice.pdf": pdf}); r.StatusCode != http.StatusOK {
		t.Fatalf("reply with a file: %d %s", r.StatusCode, readBody(t, r))
	}
	var attID int64
	if err := f.srv.Inbox.Store.Pool.QueryRow(bg, `SELECT a.id FROM attachments a JOIN messages m ON m.id = a.message_id
		WHERE m.conversation_id = $1 AND m.direction = 'outgoing' AND a.filename = 'invoice.pdf' AND a.size = $2`, conv, len(pdf)).Scan(&attID); err != nil {
		t.Fatalf("the file was not stored with the reply: %v", err)
	}
	if page := f.page(t, conv); !strings.Contains(page, fmt.Sprintf(`href="/attachments/%d"`, attID)) {
		t.Errorf("the thread does not show the file")
	}
	dl := f.do(auth.Agent, http.MethodGet, fmt.Sprintf("/attachments/%d", attID), nil, false)
	if got := readBody(t, dl); dl.StatusCode != http.StatusOK || got != string(pdf) {
		t.Errorf("download: %d, %d bytes", dl.StatusCode, len(got))
	}
	f.deliverOutbox()
	if len(mail.sent) != 1 || mail.sent[0].Body != "Here you are." {
		t.Fatalf("delivered: %+v", mail.sent)
	}

	// A file alone is a reply; refused files say why, on the files field,
	// and store nothing.
	if r := f.multipartReply(t, conv, "", map[string][]byte{"a.txt": []byte("a")}); r.StatusCode != http.StatusOK {
		t.Errorf("a file without text: %d", r.StatusCode)
	}
	for _, c := range []struct {
		name  string
		conv  int64
		files map[string][]byte
		want  string
	}{
		{"a text-only channel", smsConv, map[string][]byte{"a.txt": []byte("a")}, "text only"},
		{"too many", conv, map[string][]byte{"a": {1}, "b": {2}, "c": {3}, "d": {4}}, "at most 3 files"},
		{"too large", conv, map[string][]byte{"big.bin": make([]byte, 1<<20+1)}, "at most 1 MiB"},
	} {
		var before int
		_ = f.srv.Inbox.Store.Pool.QueryRow(bg, `SELECT count(*) FROM messages`).Scan(&before)
		r := f.multipartReply(t, c.conv, "here", c.files)
		var e struct {
			Error struct{ Field, Message string }
		}
		_ = json.Unmarshal([]byte(readBody(t, r)), &e)
		if r.StatusCode != http.StatusBadRequest || e.Error.Field != "files" || !strings.Contains(e.Error.Message, c.want) {
			t.Errorf("%s: %d %+v, want 400 on files saying %q", c.name, r.StatusCode, e, c.want)
		}
		var after int
		_ = f.srv.Inbox.Store.Pool.QueryRow(bg, `SELECT count(*) FROM messages`).Scan(&after)
		if after != before {
			t.Errorf("%s: a refused reply stored a message", c.name)
		}
	}
	if r := f.multipartReply(t, conv, "x", map[string][]byte{"huge.bin": make([]byte, replyBody)}); r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over the route's limit: %d, want 413", r.StatusCode)
	}

	// The API takes them in base64.
	b64 := base64.StdEncoding.EncodeToString([]byte("quarterly numbers"))
	r := f.api(auth.Agent, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/replies", conv),
		`{"text": "Numbers attached", "attachments": [{"filename": "q3.csv", "contentType": "text/csv", "data": "`+b64+`"}]}`)
	var created struct {
		Message struct {
			Attachments []struct {
				Filename    string
				ContentType string
				Size        int
			}
		}
	}
	if err := json.Unmarshal([]byte(readBody(t, r)), &created); err != nil || r.StatusCode != http.StatusCreated ||
		len(created.Message.Attachments) != 1 || created.Message.Attachments[0].Filename != "q3.csv" ||
		created.Message.Attachments[0].ContentType != "text/csv" || created.Message.Attachments[0].Size != 17 {
		t.Errorf("API reply with a file: %d %+v %v", r.StatusCode, created, err)
	}
	for body, want := range map[string]string{
		`{"text": "x", "attachments": [{"filename": "a", "data": "not base64!"}]}`: "attachments[0].data",
		`{"text": "x", "attachments": [{"data": "YQ=="}]}`:                         "attachments[0].filename",
	} {
		r := f.api(auth.Agent, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/replies", conv), body)
		if got := readBody(t, r); r.StatusCode != http.StatusBadRequest || !strings.Contains(got, want) {
			t.Errorf("%s: %d %s", body, r.StatusCode, got)
		}
	}
	r = f.api(auth.Agent, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/replies", smsConv),
		`{"text": "x", "attachments": [{"filename": "a", "data": "YQ=="}]}`)
	if got := readBody(t, r); r.StatusCode != http.StatusBadRequest || !strings.Contains(got, "text only") {
		t.Errorf("API files on SMS: %d %s", r.StatusCode, got)
	}
}

// TestMediaLink: GET /media/{token} serves a linked file without a
// session, under its type but sandboxed; an unknown or expired link is a
// 404.
func TestMediaLink(t *testing.T) {
	f := newFixture(t)
	st := f.srv.Inbox.Store
	res, err := f.srv.Inbox.Ingest(bg, inbox.Inbound{Channel: "api", Identifier: "+15550123", ContactName: "Ivy", ExternalID: "l1", Body: "photo",
		Attachments: nil})
	if err != nil {
		t.Fatal(err)
	}
	var att int64
	if err := st.Pool.QueryRow(bg, `INSERT INTO attachments (message_id, filename, content_type, size, sha256, data)
		VALUES ($1, 'p.png', 'image/png', 4, 'x', '\x89504e47'::bytea) RETURNING id`, res.Message.ID).Scan(&att); err != nil {
		t.Fatal(err)
	}
	tokens, err := st.CreateMediaLinks(bg, []int64{att}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	get := func(token string) *http.Response {
		resp, err := http.Get(f.ts.URL + "/media/" + token)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	r := get(tokens[0])
	if body := readBody(t, r); r.StatusCode != http.StatusOK || body != "\x89PNG" || r.Header.Get("Content-Type") != "image/png" ||
		r.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(r.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("a link: %d %q %v", r.StatusCode, body, r.Header)
	}
	for _, tok := range []string{strings.Repeat("A", 43), "short", tokens[0][:42] + "B"} {
		if r := get(tok); r.StatusCode != http.StatusNotFound {
			t.Errorf("%q: %d", tok, r.StatusCode)
		}
	}
	if _, err := st.Pool.Exec(bg, `UPDATE media_links SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if r := get(tokens[0]); r.StatusCode != http.StatusNotFound {
		t.Errorf("an expired link: %d", r.StatusCode)
	}
}

// TestOutboundWebhookCarriesFiles: the API channel's webhook carries a
// reply's files in base64, with their names, types, sizes and digests,
// under the same signature.
func TestOutboundWebhookCarriesFiles(t *testing.T) {
	f := newFixture(t)
	got := make(chan []byte, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
	}))
	defer hook.Close()
	if err := f.st.SetAPIChannelWebhook(bg, f.st.Pool, hook.URL, channels.NewSecret); err != nil {
		t.Fatal(err)
	}
	page := f.page(t, f.convID)
	if !strings.Contains(page, `data-testid="attach"`) {
		t.Errorf("the API channel's composer offers no files")
	}
	data := []byte{0, 1, 2, 250, 251, 252}
	if r := f.multipartReply(t, f.convID, "See attached", map[string][]byte{"scan.bin": data}); r.StatusCode != http.StatusOK {
		t.Fatalf("reply: %d", r.StatusCode)
	}
	f.deliverOutbox()
	var payload struct {
		Type    string
		Message struct {
			Body        string
			Attachments []struct {
				Filename, ContentType, SHA256 string
				Size                          int64
				Data                          []byte
			}
		}
	}
	if err := json.Unmarshal(<-got, &payload); err != nil {
		t.Fatal(err)
	}
	a := payload.Message.Attachments
	if payload.Message.Body != "See attached" || len(a) != 1 || a[0].Filename != "scan.bin" || a[0].Size != 6 || !bytes.Equal(a[0].Data, data) ||
		a[0].ContentType != "application/octet-stream" || len(a[0].SHA256) != 64 {
		t.Errorf("payload: %+v", payload)
	}
}
