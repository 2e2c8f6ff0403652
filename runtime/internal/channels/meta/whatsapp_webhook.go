package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// The webhook payload of the WhatsApp Business Account object.
type waEnvelope struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string `json:"id"`
		Changes []struct {
			Field string          `json:"field"`
			Value json.RawMessage `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type waValue struct {
	MessagingProduct string `json:"messaging_product"`
	Metadata         struct {
		DisplayPhoneNumber string `json:"display_phone_number"`
		PhoneNumberID      string `json:"phone_number_id"`
	} `json:"metadata"`
	Contacts []struct {
		Profile struct {
			Name string `json:"name"`
		} `json:"profile"`
		WaID string `json:"wa_id"`
	} `json:"contacts"`
	Messages []waMessage `json:"messages"`
	Statuses []waStatus  `json:"statuses"`
}

type waMessage struct {
	From      string `json:"from"`
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Type      string `json:"type"`
	Context   *struct {
		From string `json:"from"`
		ID   string `json:"id"`
	} `json:"context"`
	Text *struct {
		Body string `json:"body"`
	} `json:"text"`
	Image    *waMedia `json:"image"`
	Audio    *waMedia `json:"audio"`
	Video    *waMedia `json:"video"`
	Document *waMedia `json:"document"`
	Sticker  *waMedia `json:"sticker"`
	Reaction *struct {
		MessageID string `json:"message_id"`
		Emoji     string `json:"emoji"`
	} `json:"reaction"`
	Interactive *struct {
		Type        string `json:"type"`
		ButtonReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply *struct {
			ID          string `json:"id"`
			Title       string `json:"title"`
			Description string `json:"description"`
		} `json:"list_reply"`
	} `json:"interactive"`
	Button *struct {
		Payload string `json:"payload"`
		Text    string `json:"text"`
	} `json:"button"`
	Location *struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		Name      string  `json:"name"`
		Address   string  `json:"address"`
	} `json:"location"`
	Contacts []struct {
		Name struct {
			FormattedName string `json:"formatted_name"`
		} `json:"name"`
		Phones []struct {
			Phone string `json:"phone"`
		} `json:"phones"`
	} `json:"contacts"`
	System *struct {
		Body string `json:"body"`
	} `json:"system"`
	Errors []waError `json:"errors"`
}

type waMedia struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
}

type waStatus struct {
	ID string `json:"id"`
	// CallbackData is what the send put in biz_opaque_callback_data.
	CallbackData string    `json:"biz_opaque_callback_data"`
	Status       string    `json:"status"`
	Timestamp    string    `json:"timestamp"`
	RecipientID  string    `json:"recipient_id"`
	Errors       []waError `json:"errors"`
}

type waError struct {
	Code      int    `json:"code"`
	Title     string `json:"title"`
	Message   string `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

// waInbound is a customer's message with the name their profile gives.
type waInbound struct {
	waMessage
	Name string
}

// waBatch is what one delivery holds for one phone number.
type waBatch struct {
	Messages []waInbound
	Statuses []waStatus
	// TemplatesChanged: a template of the account was approved, rejected,
	// paused or recategorised.
	TemplatesChanged bool
}

// templateFields are the webhook fields that change the approved templates.
var templateFields = map[string]bool{
	"message_template_status_update":  true,
	"message_template_quality_update": true,
	"template_category_update":        true,
}

// parseWhatsApp reads a delivery strictly: anything that is not a
// WhatsApp Business Account payload of the documented shape is an error.
// Changes for other phone numbers (or, for templates, other accounts) are
// left out.
func parseWhatsApp(body []byte, phoneID, wabaID string) (*waBatch, error) {
	var env waEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("the body is not the JSON of a webhook: %v", err)
	}
	if env.Object != "whatsapp_business_account" {
		return nil, fmt.Errorf("object is %q, not whatsapp_business_account", env.Object)
	}
	b := &waBatch{}
	for _, e := range env.Entry {
		for _, c := range e.Changes {
			if templateFields[c.Field] {
				if e.ID == wabaID {
					b.TemplatesChanged = true
				}
				continue
			}
			if c.Field != "messages" {
				continue // account, quality and other notifications
			}
			var v waValue
			if err := json.Unmarshal(c.Value, &v); err != nil {
				return nil, fmt.Errorf("a messages change does not parse: %v", err)
			}
			if v.Metadata.PhoneNumberID != phoneID {
				continue
			}
			for _, m := range v.Messages {
				if err := checkWAMessage(m); err != nil {
					return nil, err
				}
				in := waInbound{waMessage: m}
				for _, c := range v.Contacts {
					if c.WaID == m.From || len(v.Contacts) == 1 {
						in.Name = c.Profile.Name
					}
				}
				b.Messages = append(b.Messages, in)
			}
			for _, s := range v.Statuses {
				if s.ID == "" || s.Status == "" {
					return nil, errors.New("a status has no id or status")
				}
				if s.Timestamp != "" && !digits(s.Timestamp) {
					return nil, errors.New("a status's timestamp is not Unix seconds")
				}
				b.Statuses = append(b.Statuses, s)
			}
		}
	}
	return b, nil
}

func checkWAMessage(m waMessage) error {
	switch {
	case m.ID == "" || len(m.ID) > 256:
		return errors.New("a message has no id")
	case !digits(m.From) || len(m.From) > 20:
		return errors.New("a message's from is not a WhatsApp number")
	case m.Type == "":
		return errors.New("a message has no type")
	case m.Timestamp != "" && !digits(m.Timestamp):
		return errors.New("a message's timestamp is not Unix seconds")
	}
	if med := m.media(); med != nil && !numericID(med.ID) {
		return fmt.Errorf("a %s message's media id is not a Graph id", m.Type)
	}
	return nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// media is the message's media object, if its type has one.
func (m *waMessage) media() *waMedia {
	switch m.Type {
	case "image":
		return m.Image
	case "audio":
		return m.Audio
	case "video":
		return m.Video
	case "document":
		return m.Document
	case "sticker":
		return m.Sticker
	}
	return nil
}

// ServeWebhook implements adapter.WebhookReceiver.
func (w *WhatsApp) ServeWebhook(ctx context.Context, r *http.Request, body []byte) (int, string, []byte, error) {
	token, secret, verifyToken, ok := w.creds()
	if !ok {
		return 0, "", nil, errClosed
	}
	switch r.Method {
	case http.MethodGet:
		return verifyHandshake(r, verifyToken)
	case http.MethodPost:
	default:
		return 0, "", nil, adapter.Rejected(http.StatusMethodNotAllowed, "unsupported", r.Method+" is not a webhook delivery")
	}
	if err := verifySignature(secret, r.Header.Get(SignatureHeader), body); err != nil {
		return 0, "", nil, err
	}
	batch, err := parseWhatsApp(body, w.phoneID, w.wabaID)
	if err != nil {
		return 0, "", nil, malformed(err.Error())
	}
	for _, m := range batch.Messages {
		if err := w.ingest(ctx, token, secret, m); err != nil {
			return 0, "", nil, err
		}
	}
	for _, s := range batch.Statuses {
		if err := w.status(ctx, s); err != nil {
			return 0, "", nil, err
		}
	}
	if batch.TemplatesChanged {
		w.requestSync()
	}
	return okAnswer()
}

// status applies a status callback; one about a message this workspace did
// not send is ignored.
func (w *WhatsApp) status(ctx context.Context, s waStatus) error {
	switch s.Status {
	case "sent", "delivered", "read", "failed":
	default:
		return nil // deleted, warning: nothing the inbox shows
	}
	detail := ""
	if s.Status == "failed" {
		detail = failureDetail(s.Errors)
	}
	_, err := w.deps.Inbox.ProviderStatus(ctx, w.key, s.ID, s.Status, detail)
	if errors.Is(err, store.ErrNotFound) {
		// A send whose answer was lost has no wamid yet: the data it
		// carried names it, and the report confirms it.
		id, ok := parseCallbackData(s.CallbackData)
		if !ok {
			return nil
		}
		adopted, err := w.deps.Store.AdoptProviderID(ctx, w.key, id, s.ID)
		if err != nil || !adopted {
			return err
		}
		_, err = w.deps.Inbox.ProviderStatus(ctx, w.key, s.ID, s.Status, detail)
		return err
	}
	return err
}

// callbackPrefix starts the biz_opaque_callback_data of every send: the
// message's id follows.
const callbackPrefix = "switchboard:message:"

// callbackData is what a send of message id carries for its status
// reports.
func callbackData(id int64) string { return callbackPrefix + strconv.FormatInt(id, 10) }

// parseCallbackData reads the message id back from callbackData.
func parseCallbackData(s string) (int64, bool) {
	rest, ok := strings.CutPrefix(s, callbackPrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}

// failureDetail says why WhatsApp could not deliver a message.
func failureDetail(errs []waError) string {
	if len(errs) == 0 {
		return "WhatsApp reported the message as failed"
	}
	e := errs[0]
	text := e.Title
	if e.ErrorData.Details != "" {
		text += ": " + e.ErrorData.Details
	} else if e.Message != "" && e.Message != e.Title {
		text += ": " + e.Message
	}
	switch e.Code {
	case codeOutsideWindow:
		return fmt.Sprintf("outside the 24-hour window: more than 24 hours have passed since the customer last wrote; send an approved template (%d %s)", e.Code, text)
	case codeUndeliverable:
		return fmt.Sprintf("undeliverable: the number may not be on WhatsApp or cannot receive this message (%d %s)", e.Code, text)
	}
	return fmt.Sprintf("%d %s", e.Code, text)
}

// ingest stores one customer message, with its media fetched.
func (w *WhatsApp) ingest(ctx context.Context, token, secret string, m waInbound) error {
	st := w.deps.Store
	// A redelivery: skip the media download; Ingest would dedupe anyway.
	if _, err := st.MessageByExternalID(ctx, st.Pool, w.key, m.ID); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	in := inbox.Inbound{Channel: w.key, Identifier: "+" + m.From, ContactName: m.Name, ExternalID: m.ID}
	in.Body = describe(m.waMessage, func(wamid string) string { return quoteMessage(ctx, w.deps.Store, w.key, wamid) })
	if med := m.media(); med != nil {
		a, err := w.fetchMedia(ctx, token, secret, med, m.Type)
		switch {
		case err == nil:
			in.Attachments = append(in.Attachments, a)
		case errors.Is(err, errMediaGone):
			note := fmt.Sprintf("(%s not stored: %v)", m.Type, err)
			in.Body = strings.TrimSpace(in.Body + "\n" + note)
		default:
			return err
		}
	}
	if strings.TrimSpace(in.Body) == "" && len(in.Attachments) == 0 {
		in.Body = "(an empty " + m.Type + " message)"
	}
	_, err := w.deps.Inbox.Ingest(ctx, in)
	return err
}

// describe is the text a message shows in the conversation; quote names
// the message a reaction is about.
func describe(m waMessage, quote func(wamid string) string) string {
	switch m.Type {
	case "text":
		if m.Text != nil {
			return m.Text.Body
		}
	case "image", "audio", "video", "document", "sticker":
		if med := m.media(); med != nil {
			return med.Caption
		}
	case "reaction":
		if m.Reaction == nil || m.Reaction.Emoji == "" {
			return "Removed a reaction"
		}
		return "Reacted " + m.Reaction.Emoji + " to " + quote(m.Reaction.MessageID)
	case "interactive":
		if i := m.Interactive; i != nil {
			switch {
			case i.ButtonReply != nil:
				return i.ButtonReply.Title
			case i.ListReply != nil && i.ListReply.Description != "":
				return i.ListReply.Title + " — " + i.ListReply.Description
			case i.ListReply != nil:
				return i.ListReply.Title
			}
		}
		return "(an interactive reply)"
	case "button":
		if m.Button != nil {
			return m.Button.Text
		}
	case "location":
		if l := m.Location; l != nil {
			place := strings.TrimSpace(strings.Join([]string{l.Name, l.Address}, " "))
			return strings.TrimSpace(fmt.Sprintf("Shared a location: %s (%.6f, %.6f)", place, l.Latitude, l.Longitude))
		}
	case "contacts":
		var cards []string
		for _, c := range m.Contacts {
			card := c.Name.FormattedName
			for _, p := range c.Phones {
				card += " " + p.Phone
			}
			cards = append(cards, strings.TrimSpace(card))
		}
		return "Shared contacts: " + strings.Join(cards, "; ")
	case "system":
		if m.System != nil {
			return m.System.Body
		}
	}
	why := ""
	if len(m.Errors) > 0 {
		why = ": " + m.Errors[0].Title
	}
	return fmt.Sprintf("(a %s message that WhatsApp does not pass on%s)", m.Type, why)
}

// fetchMedia looks a media id up (GET /{media-id}) and downloads the file
// with the same bearer token.
func (w *WhatsApp) fetchMedia(ctx context.Context, token, secret string, med *waMedia, kind string) (*store.Attachment, error) {
	var info struct {
		URL      string          `json:"url"`
		MimeType string          `json:"mime_type"`
		SHA256   string          `json:"sha256"`
		FileSize json.RawMessage `json:"file_size"`
	}
	if err := w.graph.call(ctx, token, secret, http.MethodGet, med.ID, nil, nil, &info); err != nil {
		var ge *GraphError
		if errors.As(err, &ge) {
			if ge.Code == codeAuth {
				w.report(authFailed(ge))
				return nil, fmt.Errorf("looking up media: %w", err)
			}
			if !ge.Retryable() {
				return nil, &mediaError{"Meta refused it: " + ge.Message}
			}
		}
		return nil, fmt.Errorf("looking up media: %w", err)
	}
	if size, err := strconv.ParseInt(strings.Trim(string(info.FileSize), `"`), 10, 64); err == nil && size > MaxMedia {
		return nil, &mediaError{fmt.Sprintf("larger than %d MiB", MaxMedia>>20)}
	}
	data, ct, err := download(ctx, w.graph.client, info.URL, token, MaxMedia)
	if err != nil {
		return nil, err
	}
	if info.SHA256 != "" && !hashMatches(data, info.SHA256) {
		return nil, errors.New("fetching media: the file does not match its SHA-256")
	}
	for _, c := range []string{info.MimeType, med.MimeType} {
		if c != "" {
			ct = c
			break
		}
	}
	name := med.Filename
	if name == "" {
		name = filenameFor(kind, ct)
	}
	return attachment(data, name, ct), nil
}
