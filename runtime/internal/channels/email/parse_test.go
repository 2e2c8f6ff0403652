package email

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

func TestParseMessageIDs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"<a@b>", []string{"a@b"}},
		{" <a@b>  <c@d>\r\n\t<e@f> ", []string{"a@b", "c@d", "e@f"}},
		{"<a@b> <a@b>", []string{"a@b"}},
		{"<a@\r\n b>", []string{"a@b"}}, // folded inside an id
		{"a@b", []string{"a@b"}},        // no brackets
		{"a@b, c@d", []string{"a@b", "c@d"}},
		{"Your message of Monday <x@y>", []string{"x@y"}},
		{"<>", nil},
		{"<" + strings.Repeat("x", 300) + "@y>", nil},
		{"<a@b", nil},
		{"no id here", nil},
		{"", nil},
	} {
		if got := ParseMessageIDs(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("ParseMessageIDs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNormalizeSubject(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Order 12", "order 12"},
		{"Re: Order 12", "order 12"},
		{"RE: re:  Fwd: Order   12 ", "order 12"},
		{"AW: WG: Bestellung", "bestellung"},
		{"SV: VS: Tilaus", "tilaus"},
		{"Re[2]: Order", "order"},
		{"Re(3): Order", "order"},
		{"[Support] Re: Order", "order"},
		{"回复：订单", "订单"},
		{"Réf : x", "x"},
		{"Re: Reorder", "reorder"},
		{"Regarding the order", "regarding the order"},
		{"Fw: ", ""},
		{"", ""},
	} {
		if got := NormalizeSubject(tc.in); got != tc.want {
			t.Errorf("NormalizeSubject(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestReplySubject(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Order 12", "Re: Order 12"},
		{"Re: Order 12", "Re: Order 12"},
		{"RE: Order", "RE: Order"},
		{"AW: Order", "Re: AW: Order"},
		{"Reorder", "Re: Reorder"},
		{"", "Re:"},
		{"a\r\nBcc: x@y", "Re: a Bcc: x@y"},
	} {
		if got := ReplySubject(tc.in); got != tc.want {
			t.Errorf("ReplySubject(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func TestParseMessage(t *testing.T) {
	pdf := []byte("%PDF-1.4 not really a pdf\x00\x01\x02")
	pdfSum := sha256.Sum256(pdf)
	png := []byte("\x89PNG\r\n\x1a\n....")
	lim := Limits{MaxAttachment: 1 << 10, MaxAttachments: 5}

	t.Run("plain text is preferred over HTML", func(t *testing.T) {
		m := ParseMessage(crlf(`From: "Alice Example" <Alice@Example.TEST>
To: support@example.test
Subject: =?UTF-8?Q?Bestellung_=C3=BCber?=
Message-ID: <m1@example.test>
In-Reply-To: <p1@example.test>
References: <p0@example.test>
 <p1@example.test>
Date: Mon, 02 Nov 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b"

--b
Content-Type: text/plain; charset=utf-8

Hello there,

the plain part.
--b
Content-Type: text/html; charset=utf-8

<p>the <b>HTML</b> part</p>
--b--
`), lim)
		if m.From != "alice@example.test" || m.FromName != "Alice Example" || m.ReplyTo != "alice@example.test" {
			t.Errorf("sender = %q %q reply-to %q", m.From, m.FromName, m.ReplyTo)
		}
		if m.Subject != "Bestellung über" || m.MessageID != "m1@example.test" {
			t.Errorf("subject %q, id %q", m.Subject, m.MessageID)
		}
		if !slices.Equal(m.InReplyTo, []string{"p1@example.test"}) || !slices.Equal(m.References, []string{"p0@example.test", "p1@example.test"}) {
			t.Errorf("threading: %q %q", m.InReplyTo, m.References)
		}
		if m.Body != "Hello there,\n\nthe plain part." || m.FromHTML {
			t.Errorf("body = %q (from HTML %v)", m.Body, m.FromHTML)
		}
		if m.Date.IsZero() {
			t.Error("no date")
		}
	})

	t.Run("HTML only is sanitised to text", func(t *testing.T) {
		m := ParseMessage(crlf(`From: bob@example.test
Subject: html
Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

<html><head><style>p { color: red }</style><script>alert("x")</script></head>
<body onload=3D"steal()"><p>Gr=FC=DFe,</p><p>see <a href=3D"https://shop.example/o/12">your order</a>
<img src=3D"https://tracker.example/pixel.gif" alt=3D"">
<img src=3D"cid:logo" alt=3D"Logo"></p>
<ul><li>one</li><li>two</li></ul><a href=3D"javascript:alert(1)">click</a></body></html>
`), lim)
		want := "Grüße,\n\nsee your order (https://shop.example/o/12) [Logo]\n\n- one\n- two\n\nclick"
		if m.Body != want || !m.FromHTML {
			t.Errorf("body = %q, want %q", m.Body, want)
		}
		for _, bad := range []string{"alert", "steal", "color", "tracker", "<"} {
			if strings.Contains(m.Body, bad) {
				t.Errorf("the body keeps %q: %q", bad, m.Body)
			}
		}
	})

	t.Run("attachments are kept with their digest, big ones named", func(t *testing.T) {
		m := ParseMessage(crlf(`From: carol@example.test
Subject: files
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/related; boundary="inner"

--inner
Content-Type: text/plain

See attached.
--inner
Content-Type: image/png
Content-Disposition: inline
Content-ID: <logo>
Content-Transfer-Encoding: base64

`+base64.StdEncoding.EncodeToString(png)+`
--inner--
--outer
Content-Type: application/pdf; name="../../etc/report.pdf"
Content-Disposition: attachment; filename="../../etc/report.pdf"
Content-Transfer-Encoding: base64

`+base64.StdEncoding.EncodeToString(pdf)+`
--outer
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="huge.bin"

`+strings.Repeat("x", 2000)+`
--outer--
`), lim)
		if !strings.HasPrefix(m.Body, "See attached.") || !strings.Contains(m.Body, "huge.bin is larger than") {
			t.Errorf("body = %q", m.Body)
		}
		if len(m.Attachments) != 2 {
			t.Fatalf("attachments = %d, want 2 (the inline image and the pdf)", len(m.Attachments))
		}
		img, doc := m.Attachments[0], m.Attachments[1]
		if img.ContentType != "image/png" || string(img.Data) != string(png) || img.Filename != "attachment-1.png" {
			t.Errorf("inline image = %q %q %d bytes", img.Filename, img.ContentType, img.Size)
		}
		if doc.Filename != "report.pdf" || doc.SHA256 != hex.EncodeToString(pdfSum[:]) || doc.Size != int64(len(pdf)) {
			t.Errorf("pdf = %q %s %d", doc.Filename, doc.SHA256, doc.Size)
		}
	})

	t.Run("no Message-ID, a broken From, NUL bytes, a long body", func(t *testing.T) {
		raw := crlf("From: not an address <bob at example>, x@y.test\nReply-To: Desk <desk@example.test>\nSubject: a\x00b\n\n" +
			strings.Repeat("zz\x00", inbox.MaxBody))
		m := ParseMessage(raw, lim)
		if m.MessageID != "" || m.From != "x@y.test" || m.ReplyTo != "desk@example.test" || m.Subject != "a b" {
			t.Errorf("id %q from %q reply-to %q subject %q", m.MessageID, m.From, m.ReplyTo, m.Subject)
		}
		if len(m.Body) > inbox.MaxBody || strings.Contains(m.Body, "\x00") || !strings.HasSuffix(m.Body, "[…]") {
			t.Errorf("body of %d bytes ends %q", len(m.Body), m.Body[len(m.Body)-10:])
		}
		if id := ExternalID(m.MessageID, raw); !strings.HasPrefix(id, "sha256:") || id != ExternalID("", raw) {
			t.Errorf("external id %q", id)
		}
		if ExternalID("m@x", raw) != "m@x" {
			t.Error("the Message-ID is the external id")
		}
	})

	t.Run("garbage", func(t *testing.T) {
		for _, raw := range []string{"", "\r\n\r\n", "no header at all", "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n", "From: \r\n\r\n"} {
			m := ParseMessage([]byte(raw), lim)
			if !utf8.ValidString(m.Body) {
				t.Errorf("%q: body is not UTF-8", raw)
			}
		}
	})
}

func TestOptionsFromConfig(t *testing.T) {
	base := map[string]string{"imapHost": "imap.example.test", "smtpHost": "smtp.example.test", "username": "desk@example.test"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name       string
		cfg        map[string]string
		imap, smtp Server
		from, err  string
	}{
		{"defaults", base, Server{"imap.example.test:993", TLS}, Server{"smtp.example.test:587", StartTLS}, "desk@example.test", ""},
		{"port 143 is STARTTLS", with("imapPort", "143", "smtpPort", "465"), Server{"imap.example.test:143", StartTLS}, Server{"smtp.example.test:465", TLS}, "desk@example.test", ""},
		{"security picks the port", with("imapSecurity", "starttls", "smtpSecurity", "tls"), Server{"imap.example.test:143", StartTLS}, Server{"smtp.example.test:465", TLS}, "desk@example.test", ""},
		{"none", with("imapSecurity", "none", "imapPort", "1143", "smtpSecurity", "none", "smtpPort", "25"), Server{"imap.example.test:1143", None}, Server{"smtp.example.test:25", None}, "desk@example.test", ""},
		{"fromAddress", with("username", "desk", "fromAddress", "help@example.test"), Server{"imap.example.test:993", TLS}, Server{"smtp.example.test:587", StartTLS}, "help@example.test", ""},
		{"username no address", with("username", "desk"), Server{}, Server{}, "", "fromAddress"},
		{"missing host", with("imapHost", ""), Server{}, Server{}, "", "imapHost"},
		{"bad port", with("smtpPort", "99999"), Server{}, Server{}, "", "smtpPort"},
		{"bad security", with("imapSecurity", "ssl"), Server{}, Server{}, "", "imapSecurity"},
		{"bad host", with("imapHost", "imap.example.test/x"), Server{}, Server{}, "", "imapHost"},
		{"bad CA", with("caCertificate", "nope"), Server{}, Server{}, "", "caCertificate"},
		{"header injection", with("fromName", "x\r\nBcc: y@z"), Server{}, Server{}, "", "one line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := OptionsFromConfig(tc.cfg, "pw")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.IMAP != tc.imap || o.SMTP != tc.smtp || o.FromAddress != tc.from {
				t.Errorf("got %+v %+v %q", o.IMAP, o.SMTP, o.FromAddress)
			}
		})
	}
	if _, err := OptionsFromConfig(base, ""); err == nil {
		t.Error("no password must be an error")
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add(crlf("From: a@b\nSubject: Re: x\nMessage-ID: <1@b>\nReferences: <0@b>\n\nhi\n"))
	f.Add(crlf("From: a@b\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/html\n\n<p>x<script>y</script>\n--x\nContent-Disposition: attachment; filename=\"a\"\n\nzz\n--x--\n"))
	f.Add(crlf("Content-Type: multipart/alternative; boundary=a\n\n--a\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\n--b--\n--a--\n"))
	f.Add(crlf("Subject: =?iso-8859-1?q?=E9?=\nFrom: =?utf-8?b?w6k=?= <x@y>\nContent-Type: text/plain; charset=koi8-r\n\n\xc1\xc2\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := ParseMessage(raw, Limits{MaxAttachment: 4 << 10, MaxAttachments: 3})
		for _, s := range []string{m.Body, m.Subject, m.From, m.FromName, m.ReplyTo, m.MessageID} {
			if !utf8.ValidString(s) || strings.Contains(s, "\x00") {
				t.Fatalf("not storable text: %q", s)
			}
		}
		if len(m.Body) > inbox.MaxBody || len(m.Subject) > 512 || len(m.Attachments) > 3 {
			t.Fatalf("limits exceeded: body %d, subject %d, attachments %d", len(m.Body), len(m.Subject), len(m.Attachments))
		}
		for _, id := range slices.Concat([]string{m.MessageID}, m.InReplyTo, m.References) {
			if len(id) > maxIDLen || strings.ContainsAny(id, "<> \r\n\x00") {
				t.Fatalf("bad id %q", id)
			}
		}
		for _, a := range m.Attachments {
			sum := sha256.Sum256(a.Data)
			if a.SHA256 != hex.EncodeToString(sum[:]) || a.Size != int64(len(a.Data)) || a.Size > 4<<10 ||
				a.Filename == "" || strings.ContainsAny(a.Filename, "/\\\x00") {
				t.Fatalf("bad attachment %q %d", a.Filename, a.Size)
			}
		}
	})
}

func FuzzParseMessageIDs(f *testing.F) {
	for _, s := range []string{"<a@b> <c@d>", "a@b", "<a@\r\n b>", "<<>>", "<a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, field string) {
		ids := ParseMessageIDs(field)
		seen := map[string]bool{}
		for _, id := range ids {
			if id == "" || len(id) > maxIDLen || !utf8.ValidString(id) || strings.ContainsAny(id, "<> \t\r\n\x00") || seen[id] {
				t.Fatalf("bad id %q from %q", id, field)
			}
			seen[id] = true
		}
	})
}

func FuzzNormalizeSubject(f *testing.F) {
	for _, s := range []string{"Re: Fwd: x", "AW: [list] SV: y", "回复：z", "Re[2]:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeSubject(s)
		if NormalizeSubject(n) != n && utf8.ValidString(s) {
			// Stripping is to a fixed point: "Re: " of a normalised subject
			// normalises to it.
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, NormalizeSubject(n))
		}
		if NormalizeSubject("Re: "+n) != NormalizeSubject(n) && utf8.ValidString(s) {
			t.Fatalf("Re: changes %q", n)
		}
	})
}

func FuzzHTMLToText(f *testing.F) {
	for _, s := range []string{"<p>a<script>alert(1)</script></p>", "<a href='https://x'>y</a>", "<pre> a\n b</pre>", "<li><li>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := HTMLToText(s)
		if strings.Contains(strings.ToLower(out), "<script") {
			t.Fatalf("markup survived: %q", out)
		}
	})
}
