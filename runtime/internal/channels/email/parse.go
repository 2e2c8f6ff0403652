package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // charsets beyond UTF-8 and ASCII
	gomail "github.com/emersion/go-message/mail"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Limits bound what one mail may store.
type Limits struct {
	// MaxAttachment is the largest attachment kept; a larger one is named
	// in the body and dropped.
	MaxAttachment int64
	// MaxAttachments is the most attachments kept from one mail.
	MaxAttachments int
}

// DefaultLimits are the Engine's limits unless Options say otherwise.
var DefaultLimits = Limits{MaxAttachment: 10 << 20, MaxAttachments: 20}

// Mail is an inbound mail as the inbox stores it.
type Mail struct {
	// MessageID is the Message-ID without angle brackets, "" if none.
	MessageID string
	// InReplyTo and References are message ids without angle brackets.
	InReplyTo  []string
	References []string
	Subject    string
	// From is the sender's address, lower-cased; FromName their display name.
	From, FromName string
	// ReplyTo is where replies go: the first Reply-To address, else From.
	ReplyTo string
	Date    time.Time
	// Body is the text: the text/plain part, or the sanitised text
	// rendering of the text/html part when there is no plain one.
	Body string
	// FromHTML says Body was rendered from HTML.
	FromHTML    bool
	Attachments []*store.Attachment
}

// ExternalID is the id the inbox deduplicates the mail on: its
// Message-ID, or a digest of the raw bytes when it has none.
func ExternalID(messageID string, raw []byte) string {
	if messageID != "" {
		return messageID
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// maxIDLen bounds one message id; longer ones are not ids anyone threads on.
const maxIDLen = 250

// maxRefs is how many References a mail keeps (the most recent).
const maxRefs = 50

// ParseMessage reads a raw RFC 5322 message. It never fails on content:
// a part that cannot be decoded is kept as it is, or named in the body.
func ParseMessage(raw []byte, lim Limits) *Mail {
	m := &Mail{}
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if r == nil {
		// Not even a header: keep what can be read as text.
		m.Body = cleanText(string(raw))
		if err != nil && m.Body == "" {
			m.Body = "(this email could not be read: " + clip(err.Error()) + ")"
		}
		return m
	}
	h := r.Header
	m.MessageID = firstID(h.Get("Message-Id"))
	m.InReplyTo = ParseMessageIDs(h.Get("In-Reply-To"))
	m.References = ParseMessageIDs(strings.Join(h.Values("References"), " "))
	if len(m.References) > maxRefs {
		m.References = m.References[len(m.References)-maxRefs:]
	}
	if len(m.InReplyTo) > maxRefs {
		m.InReplyTo = m.InReplyTo[:maxRefs]
	}
	subject, err := h.Subject()
	if err != nil {
		subject = h.Get("Subject")
	}
	m.Subject = cleanLine(subject, 512)
	m.From, m.FromName = parseAddress(&h, "From")
	if m.From == "" {
		m.From, m.FromName = parseAddress(&h, "Sender")
	}
	m.ReplyTo, _ = parseAddress(&h, "Reply-To")
	if m.ReplyTo == "" {
		m.ReplyTo = m.From
	}
	m.Date, _ = h.Date()

	var plain, html []string
	var notes []string
	for n := 0; ; n++ {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			notes = append(notes, "(part of this email could not be read: "+clip(err.Error())+")")
			break
		}
		if n >= 200 { // a bomb of tiny parts
			notes = append(notes, "(this email has more parts than are read)")
			break
		}
		ct, params, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if ct == "" {
			ct = "text/plain"
		}
		disp, dparams, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		filename := dparams["filename"]
		if filename == "" {
			filename = params["name"]
		}
		if filename != "" {
			if dec, err := (&mime.WordDecoder{CharsetReader: message.CharsetReader}).DecodeHeader(filename); err == nil {
				filename = dec
			}
		}
		isBody := disp != "attachment" && filename == "" && (ct == "text/plain" || ct == "text/html")
		if isBody {
			data, err := io.ReadAll(io.LimitReader(p.Body, inbox.MaxBody*4))
			if err != nil {
				notes = append(notes, "(part of this email could not be read: "+clip(err.Error())+")")
				continue
			}
			if ct == "text/plain" {
				plain = append(plain, string(data))
			} else {
				html = append(html, string(data))
			}
			continue
		}
		if len(m.Attachments) >= lim.MaxAttachments {
			notes = append(notes, fmt.Sprintf("(more than %d attachments: %s was not kept)", lim.MaxAttachments, displayName(filename, ct)))
			continue
		}
		data, err := io.ReadAll(io.LimitReader(p.Body, lim.MaxAttachment+1))
		if err != nil {
			notes = append(notes, fmt.Sprintf("(the attachment %s could not be read)", displayName(filename, ct)))
			continue
		}
		if int64(len(data)) > lim.MaxAttachment {
			notes = append(notes, fmt.Sprintf("(the attachment %s is larger than %d MiB and was not kept)", displayName(filename, ct), lim.MaxAttachment>>20))
			continue
		}
		sum := sha256.Sum256(data)
		m.Attachments = append(m.Attachments, &store.Attachment{
			Filename:    attachmentName(filename, ct, len(m.Attachments)+1),
			ContentType: cleanLine(ct, 255),
			Size:        int64(len(data)),
			SHA256:      hex.EncodeToString(sum[:]),
			Data:        data,
		})
	}
	switch {
	case len(plain) > 0:
		m.Body = cleanText(strings.Join(plain, "\n\n"))
	case len(html) > 0:
		m.Body = cleanText(HTMLToText(strings.Join(html, "\n")))
		m.FromHTML = true
	}
	if len(notes) > 0 {
		m.Body = strings.TrimSpace(m.Body + "\n\n" + strings.Join(notes, "\n"))
	}
	m.Body = truncateBody(m.Body, inbox.MaxBody)
	return m
}

// parseAddress reads the first address of a header field.
func parseAddress(h *gomail.Header, key string) (addr, name string) {
	v := h.Get(key)
	if strings.TrimSpace(v) == "" {
		return "", ""
	}
	if list, err := h.AddressList(key); err == nil && len(list) > 0 {
		return normalizeAddress(list[0].Address), cleanLine(list[0].Name, 256)
	}
	// A malformed header: take what looks like an address.
	if a, err := mail.ParseAddress(v); err == nil {
		return normalizeAddress(a.Address), cleanLine(a.Name, 256)
	}
	if m := looseAddress.FindString(v); m != "" {
		return normalizeAddress(m), ""
	}
	return "", ""
}

var looseAddress = regexp.MustCompile(`[^\s<>()",;:@]+@[^\s<>()",;:@]+`)

func normalizeAddress(a string) string {
	a = strings.ToLower(strings.TrimSpace(a))
	if len(a) > 254 || !utf8.ValidString(a) || strings.ContainsAny(a, "\x00\r\n") || !strings.Contains(a, "@") {
		return ""
	}
	return a
}

// ParseMessageIDs reads the message ids of a Message-ID, In-Reply-To or
// References field: each <...> in order, without the brackets, with
// whitespace removed (folding may split one). A field without brackets,
// as some mailers write it, gives its words that contain an @. Ids that
// are empty, too long or not text are dropped, as are repeats.
func ParseMessageIDs(field string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) || r == 0 {
				return -1
			}
			return r
		}, id)
		if id == "" || len(id) > maxIDLen || !utf8.ValidString(id) || strings.ContainsAny(id, "<>") || seen[id] {
			return
		}
		seen[id] = true
		out = append(out, id)
	}
	rest := field
	found := false
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i+1:], '>')
		if j < 0 {
			break
		}
		found = true
		add(rest[i+1 : i+1+j])
		rest = rest[i+1+j+1:]
	}
	if !found {
		for _, w := range strings.FieldsFunc(field, func(r rune) bool { return unicode.IsSpace(r) || r == ',' }) {
			if strings.Contains(w, "@") {
				add(w)
			}
		}
	}
	return out
}

func firstID(field string) string {
	if ids := ParseMessageIDs(field); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// subjectPrefix matches one reply or forward marker at the start of a
// subject, in the languages mail clients write them in, with an optional
// count ("Re[2]:", "Re(3):") and the list tag some add before it.
var subjectPrefix = regexp.MustCompile(`(?i)^\s*(?:\[[^\]]{1,40}\]\s*)?(?:re|fwd?|aw|wg|sv|vs|vl|antw|doorst|rif|r|tr|res|enc|odp|pd|ynt|ilt|atb|réf|转发|回复|答复|返信|転送)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*`)

// NormalizeSubject is a subject without its reply and forward markers
// ("Re: Fwd: AW: Order 12" is "order 12"), lower-cased, with its
// whitespace collapsed: the key of the subject fallback of threading.
func NormalizeSubject(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	for range 20 {
		loc := subjectPrefix.FindStringIndex(s)
		if loc == nil || loc[1] == 0 {
			break
		}
		s = s[loc[1]:]
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// cleanText makes text storable: valid UTF-8, no NUL (PostgreSQL refuses
// it), CRLF as LF, no trailing blanks, at most one empty line in a row.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimRightFunc(l, unicode.IsSpace)
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// cleanLine is a header value as one storable line of at most max bytes.
func cleanLine(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r == 0 || r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	return truncate(strings.Join(strings.Fields(s), " "), max)
}

// truncate cuts s to at most max bytes on a rune boundary.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// truncateBody cuts a body to at most max bytes, saying so at its end.
func truncateBody(s string, max int) string {
	const more = "\n[…]"
	if len(s) <= max {
		return s
	}
	return truncate(s, max-len(more)) + more
}

func displayName(filename, ct string) string {
	if filename != "" {
		return cleanLine(path.Base(strings.ReplaceAll(filename, "\\", "/")), 100)
	}
	return "(" + cleanLine(ct, 100) + ")"
}

// attachmentName is a safe file name: the last path element of the one
// given, without control characters, or one made from the content type.
func attachmentName(filename, ct string, n int) string {
	name := path.Base(strings.ReplaceAll(filename, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '/' || r == '\\' {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, ""))
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." {
		ext := ""
		if exts, _ := mime.ExtensionsByType(ct); len(exts) > 0 {
			ext = exts[0]
		}
		name = fmt.Sprintf("attachment-%d%s", n, ext)
	}
	if len(name) > 255 {
		ext := path.Ext(name)
		if len(ext) > 20 {
			ext = ""
		}
		name = truncate(name, 255-len(ext)) + ext
	}
	return name
}
