package metatest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf16"
)

// Sign is the X-Hub-Signature-256 value Meta sends with body:
// "sha256=" + hex HMAC-SHA256 keyed with the app secret.
func Sign(appSecret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// signSHA1 is the legacy X-Hub-Signature Meta still sends alongside.
func signSHA1(appSecret string, body []byte) string {
	m := hmac.New(sha1.New, []byte(appSecret))
	m.Write(body)
	return "sha1=" + hex.EncodeToString(m.Sum(nil))
}

// Response is what a webhook endpoint answered.
type Response struct {
	Status      int
	ContentType string
	Body        string
}

var client = &http.Client{Timeout: 30 * time.Second}

// Deliver POSTs a webhook payload to url signed with the app secret, with
// the headers Meta sends.
func (s *Server) Deliver(url string, body []byte) (*Response, error) {
	return PostWebhook(url, body, map[string]string{
		"X-Hub-Signature-256": Sign(s.AppSecret, body),
		"X-Hub-Signature":     signSHA1(s.AppSecret, body),
	})
}

// PostWebhook POSTs body to url with the given extra headers (none: an
// unsigned delivery; a forged signature to test refusals).
func PostWebhook(url string, body []byte, headers map[string]string) (*Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facebookexternalua")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return do(req)
}

// Verify makes Meta's subscription check: GET url with hub.mode,
// hub.verify_token and hub.challenge.
func Verify(rawURL, mode, verifyToken, challenge string) (*Response, error) {
	q := url.Values{"hub.mode": {mode}, "hub.verify_token": {verifyToken}, "hub.challenge": {challenge}}
	req, err := http.NewRequest(http.MethodGet, rawURL+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	return do(req)
}

func do(req *http.Request) (*Response, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: string(b)}, nil
}

// metaJSON encodes v as Meta does: non-ASCII characters as \uXXXX (with
// surrogate pairs) and slashes as \/. A receiver that re-encodes the JSON
// before checking the signature fails on such bodies, as it would with
// Meta.
func metaJSON(v any) []byte {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the builders' own values are encoded
	}
	var out bytes.Buffer
	for _, r := range string(raw) {
		switch {
		case r == '/':
			out.WriteString(`\/`)
		case r < 0x80:
			out.WriteRune(r)
		case r > 0xFFFF:
			a, b := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, a, b)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return out.Bytes()
}

func unix(t time.Time) string {
	if t.IsZero() {
		t = time.Now()
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UnixMilli()
}

// WhatsApp payloads.

// WAMessage is a customer's WhatsApp message. Set one of Text, Media,
// Reaction, ButtonReply, ListReply, Button; Type is inferred unless set
// (set it to e.g. "unsupported" for a type the adapter cannot show).
type WAMessage struct {
	// From is the customer's wa_id (digits, no "+"); Name their profile name.
	From, Name string
	// ID is the wamid; NewWAMID() when empty (WhatsAppMessages fills it in).
	ID   string
	Time time.Time
	Type string
	Text string
	// Media is an image, audio, video, document or sticker.
	Media       *WAMedia
	Reaction    *WAReaction
	ButtonReply *WAReply
	ListReply   *WAReply
	// Button is a template quick-reply button press.
	Button *WAButton
	// ReplyTo is the wamid the customer replied to (context.id).
	ReplyTo string
}

// WAMedia is a media message. MimeType and SHA256 default to the file's
// if ID came from AddMedia.
type WAMedia struct {
	Kind     string // image, audio, video, document, sticker
	ID       string
	MimeType string
	SHA256   string
	Caption  string
	Filename string
}

// WAReaction is a reaction to MessageID; an empty Emoji removes it.
type WAReaction struct {
	MessageID, Emoji string
}

// WAReply is an interactive button or list reply.
type WAReply struct {
	ID, Title, Description string
}

// WAButton is a quick-reply button of a template.
type WAButton struct {
	Payload, Text string
}

// WAStatus is a status callback. A failed one carries ErrorCode and its
// title and details.
type WAStatus struct {
	ID, Status, RecipientID string
	// CallbackData is the send's biz_opaque_callback_data, echoed.
	CallbackData string
	Time         time.Time
	ErrorCode    int
	ErrorTitle   string
	ErrorDetails string
}

func (s *Server) waEnvelope(value map[string]any) []byte {
	value["messaging_product"] = "whatsapp"
	value["metadata"] = map[string]string{"display_phone_number": s.DisplayPhoneNumber, "phone_number_id": s.PhoneNumberID}
	return metaJSON(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": s.BusinessAccountID, "changes": []any{map[string]any{"value": value, "field": "messages"}}}}})
}

// WhatsAppMessages builds one delivery of customer messages to the
// emulator's phone number. Messages without an ID get one, written back
// into msgs.
func (s *Server) WhatsAppMessages(msgs ...WAMessage) []byte {
	var contacts, messages []any
	seen := map[string]bool{}
	for i := range msgs {
		m := &msgs[i]
		if m.ID == "" {
			m.ID = NewWAMID()
		}
		if !seen[m.From] {
			seen[m.From] = true
			contacts = append(contacts, map[string]any{"profile": map[string]string{"name": m.Name}, "wa_id": m.From})
		}
		messages = append(messages, s.waMessage(*m))
	}
	return s.waEnvelope(map[string]any{"contacts": contacts, "messages": messages})
}

func (s *Server) waMessage(m WAMessage) map[string]any {
	out := map[string]any{"from": m.From, "id": m.ID, "timestamp": unix(m.Time)}
	if m.ReplyTo != "" {
		out["context"] = map[string]string{"from": s.DisplayPhoneNumber, "id": m.ReplyTo}
	}
	typ := m.Type
	switch {
	case m.Media != nil:
		if typ == "" {
			typ = m.Media.Kind
		}
		med := map[string]any{"id": m.Media.ID, "mime_type": m.Media.MimeType, "sha256": m.Media.SHA256}
		s.mu.Lock()
		if f, ok := s.media[m.Media.ID]; ok {
			if m.Media.MimeType == "" {
				med["mime_type"] = f.mimeType
			}
			if m.Media.SHA256 == "" {
				med["sha256"] = MediaSHA256(f.data)
			}
		}
		s.mu.Unlock()
		if m.Media.Caption != "" {
			med["caption"] = m.Media.Caption
		}
		if m.Media.Filename != "" {
			med["filename"] = m.Media.Filename
		}
		if m.Media.Kind == "audio" {
			med["voice"] = false
		}
		if m.Media.Kind == "sticker" {
			med["animated"] = false
		}
		out[m.Media.Kind] = med
	case m.Reaction != nil:
		if typ == "" {
			typ = "reaction"
		}
		r := map[string]string{"message_id": m.Reaction.MessageID}
		if m.Reaction.Emoji != "" {
			r["emoji"] = m.Reaction.Emoji
		}
		out["reaction"] = r
	case m.ButtonReply != nil:
		if typ == "" {
			typ = "interactive"
		}
		out["interactive"] = map[string]any{"type": "button_reply", "button_reply": map[string]string{"id": m.ButtonReply.ID, "title": m.ButtonReply.Title}}
	case m.ListReply != nil:
		if typ == "" {
			typ = "interactive"
		}
		out["interactive"] = map[string]any{"type": "list_reply", "list_reply": map[string]string{
			"id": m.ListReply.ID, "title": m.ListReply.Title, "description": m.ListReply.Description}}
	case m.Button != nil:
		if typ == "" {
			typ = "button"
		}
		out["button"] = map[string]string{"payload": m.Button.Payload, "text": m.Button.Text}
	case typ == "" || typ == "text":
		typ = "text"
		out["text"] = map[string]string{"body": m.Text}
	default:
		out["errors"] = []any{map[string]any{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
			"error_data": map[string]string{"details": "Message type is currently not supported."}}}
	}
	out["type"] = typ
	return out
}

// WhatsAppStatuses builds one delivery of status callbacks.
func (s *Server) WhatsAppStatuses(sts ...WAStatus) []byte {
	var out []any
	for _, st := range sts {
		m := map[string]any{"id": st.ID, "status": st.Status, "timestamp": unix(st.Time), "recipient_id": st.RecipientID}
		if st.CallbackData != "" {
			m["biz_opaque_callback_data"] = st.CallbackData
		}
		if st.Status != "failed" {
			m["conversation"] = map[string]any{"id": "CONVERSATION_" + st.RecipientID, "origin": map[string]string{"type": "service"}}
			m["pricing"] = map[string]any{"billable": true, "pricing_model": "CBP", "category": "service"}
		}
		if st.ErrorCode != 0 {
			m["errors"] = []any{map[string]any{"code": st.ErrorCode, "title": st.ErrorTitle, "message": st.ErrorTitle,
				"error_data": map[string]string{"details": st.ErrorDetails}}}
		}
		out = append(out, m)
	}
	return s.waEnvelope(map[string]any{"statuses": out})
}

// WhatsAppTemplateStatus builds a message_template_status_update (event
// APPROVED, REJECTED, PAUSED, DISABLED, ...) for the emulator's account.
func (s *Server) WhatsAppTemplateStatus(name, language, event string) []byte {
	return metaJSON(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": s.BusinessAccountID, "time": time.Now().Unix(), "changes": []any{map[string]any{
			"field": "message_template_status_update",
			"value": map[string]any{"event": event, "message_template_id": 900000001, "message_template_name": name,
				"message_template_language": language, "reason": "NONE"}}}}}})
}

// SendWhatsAppText delivers one text message from wa_id from to url and
// returns its wamid.
func (s *Server) SendWhatsAppText(url, from, name, text string) (string, *Response, error) {
	m := []WAMessage{{From: from, Name: name, Text: text}}
	body := s.WhatsAppMessages(m...)
	resp, err := s.Deliver(url, body)
	return m[0].ID, resp, err
}

// Messenger payloads.

// MSAttachment is a Messenger attachment: Type image, video, audio or
// file with a URL (from AddFile), or fallback with a URL and Title.
type MSAttachment struct {
	Type, URL, Title string
}

func (s *Server) msEnvelope(events ...map[string]any) []byte {
	return metaJSON(map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": s.PageID, "time": time.Now().UnixMilli(), "messaging": events}}})
}

func (s *Server) fromPerson(psid string, t time.Time) map[string]any {
	return map[string]any{"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": s.PageID}, "timestamp": millis(t)}
}

// MessengerMessage builds a person's message to the Page. An empty mid
// gets NewMID().
func (s *Server) MessengerMessage(psid, mid, text string, attachments ...MSAttachment) []byte {
	if mid == "" {
		mid = NewMID()
	}
	msg := map[string]any{"mid": mid}
	if text != "" {
		msg["text"] = text
	}
	for _, a := range attachments {
		payload := map[string]any{"url": a.URL}
		if a.Title != "" {
			payload["title"] = a.Title
		}
		atts, _ := msg["attachments"].([]any)
		msg["attachments"] = append(atts, map[string]any{"type": a.Type, "payload": payload})
	}
	ev := s.fromPerson(psid, time.Time{})
	ev["message"] = msg
	return s.msEnvelope(ev)
}

// MessengerEcho builds the echo of a message the Page sent to psid.
func (s *Server) MessengerEcho(psid, mid, text string) []byte {
	ev := map[string]any{"sender": map[string]string{"id": s.PageID}, "recipient": map[string]string{"id": psid},
		"timestamp": time.Now().UnixMilli(), "message": map[string]any{"is_echo": true, "app_id": 1517776481860111, "mid": mid, "text": text}}
	return s.msEnvelope(ev)
}

// MessengerDelivery builds a delivery receipt: everything sent to psid
// before watermark, and mids if given, was delivered.
func (s *Server) MessengerDelivery(psid string, watermark time.Time, mids ...string) []byte {
	d := map[string]any{"watermark": millis(watermark)}
	if len(mids) > 0 {
		d["mids"] = mids
	}
	ev := map[string]any{"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": s.PageID}, "delivery": d}
	return s.msEnvelope(ev)
}

// MessengerRead builds a read receipt: everything sent to psid before
// watermark was read.
func (s *Server) MessengerRead(psid string, watermark time.Time) []byte {
	ev := s.fromPerson(psid, time.Time{})
	ev["read"] = map[string]any{"watermark": millis(watermark)}
	return s.msEnvelope(ev)
}

// MessengerReaction builds a reaction to mid; an empty emoji is an unreact.
func (s *Server) MessengerReaction(psid, mid, emoji string) []byte {
	r := map[string]any{"mid": mid, "action": "react", "emoji": emoji, "reaction": "other"}
	if emoji == "" {
		r = map[string]any{"mid": mid, "action": "unreact"}
	}
	ev := s.fromPerson(psid, time.Time{})
	ev["reaction"] = r
	return s.msEnvelope(ev)
}

// MessengerPostback builds a button press.
func (s *Server) MessengerPostback(psid, mid, title, payload string) []byte {
	ev := s.fromPerson(psid, time.Time{})
	ev["postback"] = map[string]any{"mid": mid, "title": title, "payload": payload}
	return s.msEnvelope(ev)
}

// SendMessengerText delivers one text message from psid to url and
// returns its mid.
func (s *Server) SendMessengerText(url, psid, text string) (string, *Response, error) {
	mid := NewMID()
	resp, err := s.Deliver(url, s.MessengerMessage(psid, mid, text))
	return mid, resp, err
}

// reportStatuses plays Meta's reports on a sent message to the status
// webhook, if one is set.
func (s *Server) reportStatuses(m Sent) {
	s.mu.Lock()
	url := s.statusWebhook
	s.mu.Unlock()
	if url == "" {
		return
	}
	go func() {
		// The sender records the id after the send returns: give it time,
		// as Meta's own latency does.
		time.Sleep(300 * time.Millisecond)
		if m.Product == "messenger" {
			_, _ = s.Deliver(url, s.MessengerDelivery(m.To, time.Now(), m.ID))
			return
		}
		to := m.To
		_, _ = s.Deliver(url, s.WhatsAppStatuses(WAStatus{ID: m.ID, Status: "sent", RecipientID: to, CallbackData: m.CallbackData}))
		_, _ = s.Deliver(url, s.WhatsAppStatuses(WAStatus{ID: m.ID, Status: "delivered", RecipientID: to, CallbackData: m.CallbackData}))
	}()
}
