// Package metatest emulates what the WhatsApp Cloud API and Messenger
// adapters talk to: Meta's Graph API (sends, media, message templates,
// Page and profile reads) and Meta's webhook deliveries, signed with the
// app secret exactly as Meta signs them.
//
// A Server is an httptest server: point an Integration's apiBaseURL at
// Server.URL. It checks tokens (a wrong one is error 190) and
// appsecret_proof, validates send requests as the Graph API documents
// them, answers with the documented shapes, and records what was sent.
// Its payload builders (WhatsAppMessages, MessengerMessage, ...) and
// Deliver sign and POST webhooks to an adapter.
package metatest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Version is the Graph API version the emulator serves (the adapters pin it).
const Version = "v21.0"

// Config is the Meta app, WhatsApp number and Page the emulator plays.
type Config struct {
	// AppSecret signs webhooks and keys appsecret_proof.
	AppSecret string
	// VerifyToken is what Verify sends as hub.verify_token.
	VerifyToken string

	// WhatsAppToken is the system-user token WhatsApp calls must bear.
	WhatsAppToken      string
	PhoneNumberID      string
	DisplayPhoneNumber string
	BusinessAccountID  string

	// PageAccessToken is the token Messenger calls must carry.
	PageAccessToken string
	PageID          string
	PageName        string

	// RequireAppSecretProof refuses calls without appsecret_proof, as an
	// app with "Require App Secret" set does. A wrong proof is always
	// refused.
	RequireAppSecretProof bool
	// TemplatePageSize caps message_templates pages (0: the caller's limit,
	// at most 100), to exercise paging.
	TemplatePageSize int
}

// DefaultConfig is a consistent set of test values.
func DefaultConfig() Config {
	return Config{
		AppSecret: "test-app-secret", VerifyToken: "test-verify-token",
		WhatsAppToken: "EAAtestwhatsapptoken", PhoneNumberID: "106540352242922", DisplayPhoneNumber: "15550783881",
		BusinessAccountID: "102290129340398",
		PageAccessToken:   "EAAtestpagetoken", PageID: "112233445566778", PageName: "Switchboard Test Page",
		RequireAppSecretProof: true,
	}
}

// Sent is one message the emulator accepted.
type Sent struct {
	// Product is "whatsapp" or "messenger".
	Product string
	// ID is the id the emulator answered: a wamid or a Messenger mid.
	ID string
	// To is the WhatsApp number or the Messenger PSID.
	To string
	// Type is WhatsApp's type (text, template); Text the text body.
	Type string
	Text string
	// Template is set for a WhatsApp template message.
	Template *SentTemplate
	// CallbackData is a WhatsApp send's biz_opaque_callback_data.
	CallbackData string
	// Media is set for a WhatsApp image, video, audio or document message
	// and a Messenger attachment.
	Media *SentMedia
	// MessagingType and Tag are Messenger's.
	MessagingType string
	Tag           string
	// Raw is the request body as received.
	Raw json.RawMessage
	At  time.Time
}

// SentTemplate is a template message as sent.
type SentTemplate struct {
	Name, Language, Policy string
	Params                 []string
}

// Call is one request the emulator answered.
type Call struct {
	Method, Path string
	Status       int
}

// Failure is a Graph error the next send answers with (FailNext).
type Failure struct {
	// Drop accepts the send (it is recorded, as Meta would deliver it) and
	// then closes the connection without an answer: a lost response.
	Drop       bool
	HTTPStatus int
	Code       int
	Subcode    int
	Type       string
	Message    string
	Details    string
	Transient  bool
}

// Documented failures, for FailNext.
var (
	// FailOutsideWindow is WhatsApp's 131047: more than 24 hours since the
	// customer last wrote.
	FailOutsideWindow = Failure{HTTPStatus: 400, Code: 131047, Type: "OAuthException", Message: "Re-engagement message",
		Details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}
	// FailUndeliverable is WhatsApp's 131026.
	FailUndeliverable = Failure{HTTPStatus: 400, Code: 131026, Type: "OAuthException", Message: "Message undeliverable",
		Details: "Unable to deliver message."}
	// FailThroughput is WhatsApp's 130429: retry later.
	FailThroughput = Failure{HTTPStatus: 400, Code: 130429, Type: "OAuthException", Message: "Rate limit hit",
		Details: "Cloud API message throughput has been reached."}
	// FailTokenExpired is 190.
	FailTokenExpired = Failure{HTTPStatus: 401, Code: 190, Subcode: 463, Type: "OAuthException",
		Message: "Error validating access token: Session has expired."}
	// FailServer is a temporary failure on Meta's side.
	FailServer = Failure{HTTPStatus: 500, Code: 2, Type: "OAuthException", Message: "Service temporarily unavailable", Transient: true}
	// FailMessengerWindow is Messenger's 10/2018278.
	FailMessengerWindow = Failure{HTTPStatus: 400, Code: 10, Subcode: 2018278, Type: "OAuthException",
		Message: "(#10) This message is sent outside of allowed window."}
)

// Template is a message template as message_templates lists it.
type Template struct {
	ID              string      `json:"id"`
	Name            string      `json:"name"`
	Language        string      `json:"language"`
	Status          string      `json:"status"`
	Category        string      `json:"category"`
	ParameterFormat string      `json:"parameter_format,omitempty"`
	Components      []Component `json:"components"`
}

// Component is a template's header, body, footer or buttons.
type Component struct {
	Type    string   `json:"type"`
	Format  string   `json:"format,omitempty"`
	Text    string   `json:"text,omitempty"`
	Buttons []Button `json:"buttons,omitempty"`
}

// Button is a template button.
type Button struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	URL         string `json:"url,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
}

// BodyTemplate is an APPROVED template with only a body.
func BodyTemplate(name, language, category, body string) Template {
	return Template{Name: name, Language: language, Status: "APPROVED", Category: category,
		ParameterFormat: "POSITIONAL", Components: []Component{{Type: "BODY", Text: body}}}
}

type media struct {
	data     []byte
	mimeType string
}

// SentMedia is the file of a WhatsApp media message, as uploaded to
// POST /{phone-number-id}/media and named by its id, or a Messenger
// attachment uploaded with its message (Kind image, audio, video or file).
type SentMedia struct {
	Kind     string // image, video, audio or document: the message's type
	ID       string
	Caption  string
	Filename string // documents
	MimeType string // the upload's type
	Data     []byte
}

// whatsAppMedia are the types WhatsApp takes for each kind of media
// message, and the largest file of each (Cloud API, "Supported media
// types"). Stickers are left out.
var whatsAppMedia = map[string]struct {
	types []string
	max   int64
}{
	"image": {[]string{"image/jpeg", "image/png"}, 5 << 20},
	"video": {[]string{"video/mp4", "video/3gpp"}, 16 << 20},
	"audio": {[]string{"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}, 16 << 20},
	"document": {[]string{"text/plain", "application/pdf", "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
		"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		"application/vnd.openxmlformats-officedocument.presentationml.presentation",
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}, 100 << 20},
}

// mediaKind is the kind of message a media type can be sent as; "" if
// WhatsApp takes it as none.
func mediaKind(mimeType string) string {
	for kind, m := range whatsAppMedia {
		if slices.Contains(m.types, mimeType) {
			return kind
		}
	}
	return ""
}

// uploadMedia is POST /{phone-number-id}/media: multipart/form-data with
// messaging_product "whatsapp", the file, and its type. The answer is the
// media id a message then names.
func (s *Server) uploadMedia(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		graphError(w, badParam("(#100) The request must be multipart/form-data with a file"))
		return
	}
	if r.FormValue("messaging_product") != "whatsapp" {
		graphError(w, badParam("(#100) The parameter messaging_product is required."))
		return
	}
	f, fh, err := r.FormFile("file")
	if err != nil {
		graphError(w, badParam("(#100) The parameter file is required."))
		return
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		graphError(w, badParam("(#100) The file could not be read"))
		return
	}
	mimeType := r.FormValue("type")
	if mimeType == "" {
		mimeType = fh.Header.Get("Content-Type")
	}
	kind := mediaKind(mimeType)
	if kind == "" {
		graphError(w, Failure{HTTPStatus: 400, Code: 131053, Type: "OAuthException", Message: "(#131053) Media upload error",
			Details: "Param file must be a file with one of the supported types - got " + mimeType})
		return
	}
	if int64(len(data)) > whatsAppMedia[kind].max {
		graphError(w, Failure{HTTPStatus: 400, Code: 131053, Type: "OAuthException", Message: "(#131053) Media upload error",
			Details: fmt.Sprintf("the %s file is larger than %d bytes", kind, whatsAppMedia[kind].max)})
		return
	}
	writeJSON(w, map[string]string{"id": s.AddMedia(data, mimeType)})
}

type file struct {
	data        []byte
	contentType string
}

// Server is the emulated Graph API. Its methods are safe for concurrent use.
type Server struct {
	Config
	*httptest.Server

	mu            sync.Mutex
	sent          []Sent
	calls         []Call
	failures      []Failure
	media         map[string]media
	files         map[string]file
	templates     []Template
	profiles      map[string]string
	statusWebhook string
	seq           int
}

// New starts an emulator. Close it when done.
func New(cfg Config) *Server {
	s := &Server{Config: cfg, media: map[string]media{}, files: map[string]file{}, profiles: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Sent returns the messages accepted so far, oldest first.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// Calls returns the requests answered so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// FailNext makes the next send (WhatsApp or Messenger) answer f. Calls
// queue: each send takes one.
func (s *Server) FailNext(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f)
}

// SetTemplates replaces the account's templates.
func (s *Server) SetTemplates(ts ...Template) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.templates = nil
	for _, t := range ts {
		if t.ID == "" {
			s.seq++
			t.ID = strconv.Itoa(900000000 + s.seq)
		}
		s.templates = append(s.templates, t)
	}
}

// AddMedia stores a WhatsApp media file and returns its media id (for
// WAMedia.ID): GET /{media-id} then serves its URL, and the URL its bytes.
func (s *Server) AddMedia(data []byte, mimeType string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := strconv.Itoa(1500000000000000 + s.seq)
	s.media[id] = media{data: data, mimeType: mimeType}
	return id
}

// MediaSHA256 is the hex SHA-256 of data, as media lookups give it.
func MediaSHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// AddFile stores a Messenger attachment and returns its CDN URL (for
// MSAttachment.URL), served without authentication.
func (s *Server) AddFile(data []byte, contentType, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := strconv.Itoa(s.seq)
	s.files[id] = file{data: data, contentType: contentType}
	return s.URL + "/cdn/" + id + "/" + name
}

// SetProfile gives a Messenger PSID a profile name.
func (s *Server) SetProfile(psid, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.profiles[psid] = name
}

// SetStatusWebhook makes the emulator report on what it sends, as Meta
// does, to url (a WhatsApp or Messenger webhook; "" stops it): a WhatsApp
// message gets a sent then a delivered status, a Messenger message a
// delivery receipt. Deliveries are signed and asynchronous.
func (s *Server) SetStatusWebhook(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statusWebhook = url
}

// graphError writes a Graph error body.
func graphError(w http.ResponseWriter, f Failure) {
	e := map[string]any{"message": f.Message, "type": f.Type, "code": f.Code, "fbtrace_id": traceID()}
	if f.Subcode != 0 {
		e["error_subcode"] = f.Subcode
	}
	if f.Details != "" {
		e["error_data"] = map[string]string{"messaging_product": "whatsapp", "details": f.Details}
	}
	if f.Transient {
		e["is_transient"] = true
	}
	w.Header().Set("Content-Type", "application/json")
	if f.Code == 190 {
		w.Header().Set("WWW-Authenticate", `OAuth "Facebook Platform" "invalid_token" "`+f.Message+`"`)
	}
	w.WriteHeader(f.HTTPStatus)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func badParam(msg string) Failure {
	return Failure{HTTPStatus: 400, Code: 100, Type: "OAuthException", Message: msg}
}

var errBadToken = Failure{HTTPStatus: 401, Code: 190, Type: "OAuthException", Message: "Invalid OAuth access token - Cannot parse access token"}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) serve(rw http.ResponseWriter, r *http.Request) {
	w := &statusRecorder{ResponseWriter: rw, status: 200}
	defer func() {
		s.mu.Lock()
		s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Status: w.status})
		s.mu.Unlock()
	}()
	if rest, ok := strings.CutPrefix(r.URL.Path, "/cdn/"); ok {
		s.serveFile(w, rest)
		return
	}
	if r.URL.Path == "/whatsapp_business/attachments/" {
		s.serveMediaBytes(w, r)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/"+Version+"/")
	if !ok {
		graphError(w, Failure{HTTPStatus: 400, Code: 2500, Type: "OAuthException", Message: "Unknown path components: " + r.URL.Path})
		return
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	switch {
	case len(parts) == 2 && parts[1] == "messages" && r.Method == http.MethodPost:
		switch parts[0] {
		case s.PhoneNumberID:
			if s.authWhatsApp(w, r) {
				s.sendWhatsApp(w, r)
			}
		case s.PageID, "me":
			if s.authPage(w, r) {
				s.sendMessenger(w, r)
			}
		default:
			graphError(w, unknownObject(parts[0], "post"))
		}
	case len(parts) == 2 && parts[1] == "media" && r.Method == http.MethodPost && parts[0] == s.PhoneNumberID:
		if s.authWhatsApp(w, r) {
			s.uploadMedia(w, r)
		}
	case len(parts) == 2 && parts[1] == "message_templates" && r.Method == http.MethodGet && parts[0] == s.BusinessAccountID:
		if s.authWhatsApp(w, r) {
			s.listTemplates(w, r)
		}
	case len(parts) == 1 && r.Method == http.MethodGet:
		s.getObject(w, r, parts[0])
	default:
		graphError(w, unknownObject(rest, strings.ToLower(r.Method)))
	}
}

func unknownObject(id, method string) Failure {
	return Failure{HTTPStatus: 400, Code: 100, Subcode: 33, Type: "GraphMethodException",
		Message: fmt.Sprintf("Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", method, id)}
}

// token is the request's access token: the bearer header or access_token.
func token(r *http.Request) string {
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return t
	}
	return r.URL.Query().Get("access_token")
}

func (s *Server) checkToken(w http.ResponseWriter, r *http.Request, want string) bool {
	got := token(r)
	if got == "" || !hmac.Equal([]byte(got), []byte(want)) {
		graphError(w, errBadToken)
		return false
	}
	proof := r.URL.Query().Get("appsecret_proof")
	if proof == "" && s.RequireAppSecretProof {
		graphError(w, badParam("API calls from the server require an appsecret_proof argument"))
		return false
	}
	if proof != "" {
		m := hmac.New(sha256.New, []byte(s.AppSecret))
		m.Write([]byte(got))
		if !hmac.Equal([]byte(proof), []byte(hex.EncodeToString(m.Sum(nil)))) {
			graphError(w, badParam("Invalid appsecret_proof provided in the API argument"))
			return false
		}
	}
	return true
}

func (s *Server) authWhatsApp(w http.ResponseWriter, r *http.Request) bool {
	return s.checkToken(w, r, s.WhatsAppToken)
}

func (s *Server) authPage(w http.ResponseWriter, r *http.Request) bool {
	return s.checkToken(w, r, s.PageAccessToken)
}

// dropConnection closes the request's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// nextFailure takes a queued failure, if any.
func (s *Server) nextFailure() (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) == 0 {
		return Failure{}, false
	}
	f := s.failures[0]
	s.failures = s.failures[1:]
	return f, true
}

func (s *Server) getObject(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	med, isMedia := s.media[id]
	profile, isProfile := s.profiles[id]
	s.mu.Unlock()
	switch {
	case id == s.PageID:
		if s.authPage(w, r) {
			writeJSON(w, map[string]string{"name": s.PageName, "id": s.PageID})
		}
	case isMedia:
		if s.authWhatsApp(w, r) {
			writeJSON(w, map[string]string{"messaging_product": "whatsapp", "id": id, "mime_type": med.mimeType,
				"sha256": MediaSHA256(med.data), "file_size": strconv.Itoa(len(med.data)),
				"url": fmt.Sprintf("%s/whatsapp_business/attachments/?mid=%s&ext=%d&hash=%s", s.URL, id, time.Now().Add(5*time.Minute).Unix(), traceID())})
		}
	case isProfile:
		if s.authPage(w, r) {
			first, last, _ := strings.Cut(profile, " ")
			writeJSON(w, map[string]string{"name": profile, "first_name": first, "last_name": last, "id": id})
		}
	default:
		graphError(w, unknownObject(id, "get"))
	}
}

// serveMediaBytes is the lookaside download: it needs the bearer token.
func (s *Server) serveMediaBytes(w http.ResponseWriter, r *http.Request) {
	if t, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !hmac.Equal([]byte(t), []byte(s.WhatsAppToken)) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	med, ok := s.media[r.URL.Query().Get("mid")]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", med.mimeType)
	w.Header().Set("Content-Length", strconv.Itoa(len(med.data)))
	_, _ = w.Write(med.data)
}

func (s *Server) serveFile(w http.ResponseWriter, rest string) {
	id, _, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	f, ok := s.files[id]
	s.mu.Unlock()
	if !ok {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(f.data)))
	_, _ = w.Write(f.data)
}

var placeholder = regexp.MustCompile(`\{\{\s*(\d+)\s*\}\}`)

// bodyParams is how many variables a template's body has.
func bodyParams(t Template) int {
	n := 0
	for _, c := range t.Components {
		if strings.EqualFold(c.Type, "BODY") {
			for _, m := range placeholder.FindAllStringSubmatch(c.Text, -1) {
				if v, _ := strconv.Atoi(m[1]); v > n {
					n = v
				}
			}
		}
	}
	return n
}

func (s *Server) sendWhatsApp(w http.ResponseWriter, r *http.Request) {
	var req struct {
		MessagingProduct string `json:"messaging_product"`
		// CallbackData is biz_opaque_callback_data: WhatsApp returns it in
		// the message's status callbacks (at most 512 characters).
		CallbackData  string `json:"biz_opaque_callback_data"`
		RecipientType string `json:"recipient_type"`
		To            string `json:"to"`
		Type          string `json:"type"`
		Text          *struct {
			PreviewURL bool    `json:"preview_url"`
			Body       *string `json:"body"`
		} `json:"text"`
		Image, Video, Audio, Document *struct {
			ID       string  `json:"id"`
			Link     string  `json:"link"`
			Caption  *string `json:"caption"`
			Filename string  `json:"filename"`
		}
		Template *struct {
			Name     string `json:"name"`
			Language *struct {
				Code   string `json:"code"`
				Policy string `json:"policy"`
			} `json:"language"`
			Components []struct {
				Type       string `json:"type"`
				Parameters []struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"parameters"`
			} `json:"components"`
		} `json:"template"`
	}
	raw, ok := readJSON(w, r, &req)
	if !ok {
		return
	}
	if req.Type == "" {
		req.Type = "text"
	}
	sent := Sent{Product: "whatsapp", To: req.To, Type: req.Type, CallbackData: req.CallbackData, Raw: raw, At: time.Now()}
	switch {
	case req.MessagingProduct != "whatsapp":
		graphError(w, badParam("(#100) The parameter messaging_product is required."))
		return
	case utf8.RuneCountInString(req.CallbackData) > 512:
		graphError(w, badParam("(#100) Param biz_opaque_callback_data must be at most 512 characters long."))
		return
	case req.RecipientType != "" && req.RecipientType != "individual" && req.RecipientType != "group":
		graphError(w, badParam("(#100) Param recipient_type must be one of {INDIVIDUAL, GROUP} - got \""+req.RecipientType+"\"."))
		return
	case req.To == "":
		graphError(w, badParam("(#100) The parameter to is required."))
		return
	}
	switch req.Type {
	case "text":
		if req.Text == nil || req.Text.Body == nil || *req.Text.Body == "" {
			graphError(w, badParam("(#100) The parameter text['body'] is required."))
			return
		}
		if utf8.RuneCountInString(*req.Text.Body) > 4096 {
			graphError(w, badParam("(#100) Param text['body'] must be at most 4096 characters long."))
			return
		}
		sent.Text = *req.Text.Body
	case "template":
		t := req.Template
		switch {
		case t == nil || t.Name == "":
			graphError(w, badParam("(#100) The parameter template['name'] is required."))
			return
		case t.Language == nil || t.Language.Code == "":
			graphError(w, badParam("(#100) The parameter template['language']['code'] is required."))
			return
		case t.Language.Policy != "" && t.Language.Policy != "deterministic":
			graphError(w, badParam("(#100) Param template['language']['policy'] must be one of {DETERMINISTIC}."))
			return
		}
		st := &SentTemplate{Name: t.Name, Language: t.Language.Code, Policy: t.Language.Policy}
		for _, c := range t.Components {
			if !strings.EqualFold(c.Type, "body") {
				continue
			}
			for _, p := range c.Parameters {
				if p.Type != "text" || p.Text == "" {
					graphError(w, badParam("(#100) Invalid parameter: a body parameter needs type text and a text."))
					return
				}
				st.Params = append(st.Params, p.Text)
			}
		}
		s.mu.Lock()
		var found *Template
		for i := range s.templates {
			if s.templates[i].Name == t.Name && s.templates[i].Language == t.Language.Code && s.templates[i].Status == "APPROVED" {
				found = &s.templates[i]
			}
		}
		s.mu.Unlock()
		if found == nil {
			graphError(w, Failure{HTTPStatus: 404, Code: 132001, Type: "OAuthException", Message: "(#132001) Template name does not exist in the translation",
				Details: fmt.Sprintf("template name (%s) does not exist in %s", t.Name, t.Language.Code)})
			return
		}
		if want := bodyParams(*found); want != len(st.Params) {
			graphError(w, Failure{HTTPStatus: 400, Code: 132000, Type: "OAuthException", Message: "(#132000) Number of parameters does not match the expected number of params",
				Details: fmt.Sprintf("body: number of localizable_params (%d) does not match the expected number of params (%d)", len(st.Params), want)})
			return
		}
		sent.Template = st
	case "image", "video", "audio", "document":
		m := map[string]*struct {
			ID       string  `json:"id"`
			Link     string  `json:"link"`
			Caption  *string `json:"caption"`
			Filename string  `json:"filename"`
		}{"image": req.Image, "video": req.Video, "audio": req.Audio, "document": req.Document}[req.Type]
		if m == nil || m.ID == "" {
			graphError(w, badParam("(#100) The parameter "+req.Type+"['id'] is required (links are not served by this emulator)."))
			return
		}
		s.mu.Lock()
		up, found := s.media[m.ID]
		s.mu.Unlock()
		switch {
		case !found:
			graphError(w, Failure{HTTPStatus: 400, Code: 131053, Type: "OAuthException", Message: "(#131053) Media upload error",
				Details: "Invalid media id " + m.ID})
			return
		case mediaKind(up.mimeType) != req.Type:
			graphError(w, badParam(fmt.Sprintf("(#100) The media %s is %s, which cannot be sent as %s", m.ID, up.mimeType, req.Type)))
			return
		case m.Caption != nil && req.Type == "audio":
			graphError(w, badParam("(#100) Param audio['caption'] is not allowed"))
			return
		case m.Caption != nil && utf8.RuneCountInString(*m.Caption) > 1024:
			graphError(w, badParam("(#100) Param "+req.Type+"['caption'] must be at most 1024 characters long."))
			return
		case m.Filename != "" && req.Type != "document":
			graphError(w, badParam("(#100) Param "+req.Type+"['filename'] is not allowed"))
			return
		}
		sent.Media = &SentMedia{Kind: req.Type, ID: m.ID, Filename: m.Filename, MimeType: up.mimeType, Data: up.data}
		if m.Caption != nil {
			sent.Media.Caption = *m.Caption
		}
	default:
		graphError(w, badParam("(#100) Param type must be one of {TEXT, TEMPLATE, IMAGE, VIDEO, AUDIO, DOCUMENT} in this emulator - got \""+req.Type+"\"."))
		return
	}
	f, failing := s.nextFailure()
	if failing && !f.Drop {
		graphError(w, f)
		return
	}
	sent.ID = NewWAMID()
	s.record(sent)
	if failing {
		// The message went: its statuses come, though the answer was lost.
		s.reportStatuses(sent)
		dropConnection(w)
		return
	}
	resp := map[string]any{"messaging_product": "whatsapp", "contacts": []map[string]string{{"input": req.To, "wa_id": strings.TrimPrefix(req.To, "+")}}}
	msg := map[string]string{"id": sent.ID}
	if req.Type == "template" {
		msg["message_status"] = "accepted"
	}
	resp["messages"] = []map[string]string{msg}
	writeJSON(w, resp)
	s.reportStatuses(sent)
}

var messengerTags = []string{"HUMAN_AGENT", "ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "CUSTOMER_FEEDBACK"}

func (s *Server) sendMessenger(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Recipient *struct {
			ID string `json:"id"`
		} `json:"recipient"`
		MessagingType string `json:"messaging_type"`
		Tag           string `json:"tag"`
		Message       *struct {
			Text       *string         `json:"text"`
			Attachment json.RawMessage `json:"attachment"`
		} `json:"message"`
	}
	var raw json.RawMessage
	var upload *SentMedia
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		// An attachment uploaded with the message: recipient, message (JSON
		// strings), messaging_type, tag, and the file as filedata.
		var ok bool
		if raw, upload, ok = readMessengerUpload(w, r, &req); !ok {
			return
		}
	} else {
		var ok bool
		if raw, ok = readJSON(w, r, &req); !ok {
			return
		}
	}
	switch {
	case req.Recipient == nil || req.Recipient.ID == "":
		graphError(w, badParam("(#100) The parameter recipient is required"))
		return
	case !slices.Contains([]string{"RESPONSE", "UPDATE", "MESSAGE_TAG"}, req.MessagingType):
		graphError(w, badParam("(#100) Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG} - got \""+req.MessagingType+"\"."))
		return
	case req.MessagingType == "MESSAGE_TAG" && !slices.Contains(messengerTags, req.Tag):
		graphError(w, badParam("(#100) Tag is required for MESSAGE_TAG messaging type"))
		return
	case req.MessagingType != "MESSAGE_TAG" && req.Tag != "":
		graphError(w, badParam("(#100) Tag can only be used with MESSAGE_TAG messaging type"))
		return
	case req.Message == nil || ((req.Message.Text == nil || *req.Message.Text == "") && len(req.Message.Attachment) == 0):
		graphError(w, badParam("(#100) The parameter message is required"))
		return
	case req.Message.Text != nil && utf8.RuneCountInString(*req.Message.Text) > 2000:
		graphError(w, badParam("(#100) Length of param message[text] must be less than or equal to 2000"))
		return
	case req.Message.Text != nil && len(req.Message.Attachment) > 0:
		graphError(w, badParam("(#100) Only one of text or attachment may be specified"))
		return
	}
	if upload == nil && len(req.Message.Attachment) > 0 {
		graphError(w, badParam("(#100) This emulator takes attachments uploaded with the message (filedata) only"))
		return
	}
	f, failing := s.nextFailure()
	if failing && !f.Drop {
		graphError(w, f)
		return
	}
	sent := Sent{Product: "messenger", ID: NewMID(), To: req.Recipient.ID, MessagingType: req.MessagingType, Tag: req.Tag, Raw: raw, At: time.Now(), Media: upload}
	if req.Message.Text != nil {
		sent.Text = *req.Message.Text
	}
	s.record(sent)
	if failing {
		dropConnection(w)
		return
	}
	writeJSON(w, map[string]string{"recipient_id": req.Recipient.ID, "message_id": sent.ID})
	s.reportStatuses(sent)
}

// readMessengerUpload reads a Send API call that uploads its attachment:
// the form's JSON fields into v, as a JSON call would carry them, and the
// file. The attachment's type must be image, audio, video or file, with
// a payload, and the file at most 25 MB.
func readMessengerUpload(w http.ResponseWriter, r *http.Request, v any) (json.RawMessage, *SentMedia, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 26<<20)
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		graphError(w, badParam("(#100) The upload could not be read, or is larger than 25 MB"))
		return nil, nil, false
	}
	fields := map[string]json.RawMessage{}
	for _, k := range []string{"recipient", "message"} {
		if val := r.FormValue(k); val != "" {
			if !json.Valid([]byte(val)) {
				graphError(w, badParam("(#100) Param "+k+" must be a JSON object"))
				return nil, nil, false
			}
			fields[k] = json.RawMessage(val)
		}
	}
	for _, k := range []string{"messaging_type", "tag"} {
		if val := r.FormValue(k); val != "" {
			b, _ := json.Marshal(val)
			fields[k] = b
		}
	}
	raw, _ := json.Marshal(fields)
	if err := json.Unmarshal(raw, v); err != nil {
		graphError(w, badParam("(#100) Invalid parameter: "+err.Error()))
		return nil, nil, false
	}
	var msg struct {
		Attachment *struct {
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		} `json:"attachment"`
	}
	_ = json.Unmarshal(fields["message"], &msg)
	if msg.Attachment == nil || !slices.Contains([]string{"image", "audio", "video", "file"}, msg.Attachment.Type) || len(msg.Attachment.Payload) == 0 {
		graphError(w, badParam("(#100) message[attachment] needs a type (image, audio, video or file) and a payload"))
		return nil, nil, false
	}
	f, fh, err := r.FormFile("filedata")
	if err != nil {
		graphError(w, badParam("(#100) Upload attachment failure: the parameter filedata is required"))
		return nil, nil, false
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil || len(data) > 25<<20 {
		graphError(w, badParam("(#100) Upload attachment failure: the file could not be read, or is larger than 25 MB"))
		return nil, nil, false
	}
	return raw, &SentMedia{Kind: msg.Attachment.Type, Filename: fh.Filename, MimeType: fh.Header.Get("Content-Type"), Data: data}, true
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) (json.RawMessage, bool) {
	var raw json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&raw); err != nil {
		graphError(w, badParam("(#100) The request body is not valid JSON"))
		return nil, false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		graphError(w, badParam("(#100) Invalid parameter: "+err.Error()))
		return nil, false
	}
	return raw, true
}

func (s *Server) record(m Sent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, m)
}

func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 || limit > 100 {
		limit = 25
	}
	if s.TemplatePageSize > 0 && s.TemplatePageSize < limit {
		limit = s.TemplatePageSize
	}
	start := 0
	if a := q.Get("after"); a != "" {
		b, err := base64.StdEncoding.DecodeString(a)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			graphError(w, badParam("(#100) Invalid after cursor"))
			return
		}
		start = n
	}
	s.mu.Lock()
	all := slices.Clone(s.templates)
	s.mu.Unlock()
	start = min(start, len(all))
	end := min(start+limit, len(all))
	page := map[string]any{"data": all[start:end]}
	if end > start {
		paging := map[string]any{"cursors": map[string]string{
			"before": base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(start))),
			"after":  base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(end))),
		}}
		if end < len(all) {
			nq := q
			nq.Set("after", base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(end))))
			nq.Del("access_token")
			paging["next"] = s.URL + r.URL.Path + "?" + nq.Encode()
		}
		page["paging"] = paging
	}
	writeJSON(w, page)
}

// NewWAMID returns a fresh WhatsApp message id.
func NewWAMID() string { return "wamid.HBgL" + randomToken(24) }

// NewMID returns a fresh Messenger message id.
func NewMID() string { return "m_" + randomToken(30) }

func traceID() string { return "A" + randomToken(16) }

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
