// Package telnyxtest is a Telnyx Messaging v2 emulator for tests, the
// benchmark and `make dev`: an httptest server that answers the send API
// and the messaging-profile read like Telnyx, records what was sent, serves
// MMS media, and signs and posts webhooks exactly as Telnyx does (Ed25519
// over timestamp + "|" + body, with its own key pair).
//
// A typical test:
//
//	tx := telnyxtest.New(telnyxtest.Options{})
//	defer tx.Close()
//	// build the adapter with tx.Config("+15550001") and tx.Credentials()
//	status, err := tx.SendInbound(webhookURL, telnyxtest.Inbound{From: "+15550100", To: "+15550001", Text: "hi"})
//	...
//	sent := tx.Sent() // the replies the adapter made
package telnyxtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/channels/sms"
)

// Options configure the emulator; the zero value works.
type Options struct {
	// APIKey is the key the API accepts; default a random "KEY…".
	APIKey string
	// ProfileID is the one messaging profile; default a random UUID.
	ProfileID string
	// WebhookURL is the profile's webhook URL: where status reports on
	// sent messages go when the send request names none.
	WebhookURL string
	// AutoStatus makes every accepted message report "sent" and then
	// FinalStatus (default "delivered") to the webhook URL, StatusDelay
	// after the send, as a phone's carrier would.
	AutoStatus  bool
	StatusDelay time.Duration
	FinalStatus string
	// Now is the clock webhooks are signed with; nil is time.Now.
	Now func() time.Time
}

// Server is the emulator.
type Server struct {
	srv  *httptest.Server
	opts Options
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey

	mu       sync.Mutex
	sent     []Sent
	failures []Failure
	media    map[string]mediaFile
	webhook  string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Sent is a message the API accepted.
type Sent struct {
	ID                 string
	From, To, Text     string
	MessagingProfileID string
	Type               string
	WebhookURL         string
	Parts              int
	Encoding           string
	At                 time.Time
	// Media are an MMS's files, as the emulator fetched them from
	// media_urls when it took the message (as Telnyx does).
	Media []Media
}

// Failure is a refusal the API answers the next send with.
type Failure struct {
	// Drop accepts the send (it is recorded, as Telnyx would send it) and
	// then closes the connection without an answer: a lost response.
	Drop   bool
	Status int
	Code   string
	Title  string
	Detail string
}

// Media is an MMS file the emulator serves, as a webhook announces it.
type Media struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
	// Data is the file's bytes, for an outbound MMS's files (Sent.Media).
	Data []byte `json:"-"`
}

type mediaFile struct {
	data        []byte
	contentType string
}

// New starts an emulator.
func New(opts Options) *Server {
	if opts.APIKey == "" {
		opts.APIKey = "KEY" + strings.ToUpper(randomHex(16))
	}
	if opts.ProfileID == "" {
		opts.ProfileID = uuid()
	}
	if opts.FinalStatus == "" {
		opts.FinalStatus = "delivered"
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	s := &Server{opts: opts, priv: priv, pub: pub, media: map[string]mediaFile{}, webhook: opts.WebhookURL}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/messages", s.send)
	mux.HandleFunc("GET /v2/messaging_profiles/{id}", s.profile)
	mux.HandleFunc("GET /media/{id}", s.serveMedia)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrors(w, http.StatusNotFound, Failure{Code: "10005", Title: "Resource not found", Detail: "The requested resource or URL could not be found."})
	})
	s.srv = httptest.NewServer(mux)
	return s
}

// Close stops the server and any status reports still pending.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
	s.srv.Close()
}

// URL is the API's base URL: the Integration's config apiBaseURL.
func (s *Server) URL() string { return s.srv.URL }

// APIKey is the key the API accepts.
func (s *Server) APIKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.APIKey
}

// ProfileID is the messaging profile's id.
func (s *Server) ProfileID() string { return s.opts.ProfileID }

// PublicKey is the webhook public key as Telnyx's portal shows it: base64
// of the 32 raw bytes.
func (s *Server) PublicKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return base64.StdEncoding.EncodeToString(s.pub)
}

// Credentials are the Integration's credentials for this emulator.
func (s *Server) Credentials() map[string]string {
	return map[string]string{"apiKey": s.APIKey(), "publicKey": s.PublicKey()}
}

// RotateKeys replaces the API key and the webhook signing key pair, as an
// account owner does in the portal: from now on only the new key is
// accepted and webhooks are signed with the new pair. It returns the new
// credentials.
func (s *Server) RotateKeys() map[string]string {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.opts.APIKey = "KEY" + strings.ToUpper(randomHex(16))
	s.pub, s.priv = pub, priv
	s.mu.Unlock()
	return s.Credentials()
}

// Config is an Integration's config for phoneNumber on this emulator.
func (s *Server) Config(phoneNumber string) map[string]string {
	return map[string]string{"phoneNumber": phoneNumber, "messagingProfileId": s.opts.ProfileID, "apiBaseURL": s.srv.URL}
}

// SetWebhookURL sets the messaging profile's webhook URL.
func (s *Server) SetWebhookURL(url string) {
	s.mu.Lock()
	s.webhook = url
	s.mu.Unlock()
}

// Sent returns the messages accepted so far, oldest first.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// FailNext makes the next sends answer with these refusals, one each.
func (s *Server) FailNext(f ...Failure) {
	s.mu.Lock()
	s.failures = append(s.failures, f...)
	s.mu.Unlock()
}

// AddMedia serves data as an MMS file and returns how a webhook announces
// it. Downloads need the API key, like the rest of the API.
func (s *Server) AddMedia(data []byte, contentType string) Media {
	id := uuid()
	sum := sha256.Sum256(data)
	s.mu.Lock()
	s.media[id] = mediaFile{data: append([]byte(nil), data...), contentType: contentType}
	s.mu.Unlock()
	return Media{URL: s.srv.URL + "/media/" + id, ContentType: contentType, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer "+s.APIKey() {
		writeErrors(w, http.StatusUnauthorized, Failure{Code: "10009", Title: "Authentication failed",
			Detail: "The required authentication headers were either invalid or not included in the request."})
		return false
	}
	return true
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// send is POST /v2/messages.
func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var req struct {
		From               string   `json:"from"`
		To                 string   `json:"to"`
		Text               string   `json:"text"`
		MessagingProfileID string   `json:"messaging_profile_id"`
		WebhookURL         string   `json:"webhook_url"`
		Type               string   `json:"type"`
		MediaURLs          []string `json:"media_urls"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeErrors(w, http.StatusBadRequest, Failure{Code: "10015", Title: "Bad Request", Detail: "The request failed because it was not well-formed."})
		return
	}
	switch {
	case req.From == "" || req.To == "":
		writeErrors(w, http.StatusUnprocessableEntity, Failure{Code: "10004", Title: "Missing required parameter", Detail: "from and to are required."})
		return
	case !e164.MatchString(req.From) || !e164.MatchString(req.To):
		writeErrors(w, http.StatusUnprocessableEntity, Failure{Code: "10016", Title: "Phone number must be in +E.164 format",
			Detail: "The specified phone number parameter must be in +E.164 format."})
		return
	case req.Text == "" && len(req.MediaURLs) == 0:
		writeErrors(w, http.StatusUnprocessableEntity, Failure{Code: "10004", Title: "Missing required parameter", Detail: "text or media_urls is required."})
		return
	case req.Type != "" && req.Type != "SMS" && req.Type != "MMS":
		writeErrors(w, http.StatusUnprocessableEntity, Failure{Code: "10015", Title: "Bad Request", Detail: "type must be SMS or MMS."})
		return
	case req.MessagingProfileID != "" && req.MessagingProfileID != s.opts.ProfileID:
		writeErrors(w, http.StatusUnprocessableEntity, Failure{Code: "10017", Title: "Associated resource does not exist",
			Detail: "The messaging profile does not exist."})
		return
	}
	if len(req.MediaURLs) > 10 {
		writeErrors(w, http.StatusUnprocessableEntity, Failure{Code: "10015", Title: "Bad Request", Detail: "media_urls: at most 10."})
		return
	}
	var files []Media
	for i, u := range req.MediaURLs {
		m, err := fetchMedia(r.Context(), u)
		if err != nil {
			writeErrors(w, http.StatusUnprocessableEntity, Failure{Code: "10015", Title: "Bad Request",
				Detail: fmt.Sprintf("media_urls[%d] could not be fetched: %v", i, err)})
			return
		}
		files = append(files, m)
	}
	s.mu.Lock()
	drop := false
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		if !f.Drop {
			s.mu.Unlock()
			writeErrors(w, f.Status, f)
			return
		}
		drop = true
	}
	typ := "SMS"
	if len(req.MediaURLs) > 0 {
		typ = "MMS"
	}
	info := sms.Count(req.Text)
	m := Sent{ID: uuid(), From: req.From, To: req.To, Text: req.Text, MessagingProfileID: req.MessagingProfileID, Type: typ,
		WebhookURL: req.WebhookURL, Parts: info.Parts, Encoding: info.Encoding, At: s.now(), Media: files}
	s.sent = append(s.sent, m)
	hook := req.WebhookURL
	if hook == "" {
		hook = s.webhook
	}
	s.mu.Unlock()
	if drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}

	writeJSON(w, http.StatusOK, map[string]any{"data": s.record(m, "queued", nil)})
	if s.opts.AutoStatus && hook != "" {
		s.wg.Add(1)
		go s.autoStatus(hook, m.ID)
	}
}

// fetchMedia GETs an MMS file from its URL, as Telnyx does when it takes
// the message: a 200 with a content type, at most 2 MB.
func fetchMedia(ctx context.Context, u string) (Media, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Media{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Media{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Media{}, fmt.Errorf("%s answered %s", u, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 2<<20+1))
	if err != nil || len(data) > 2<<20 {
		return Media{}, fmt.Errorf("%s could not be read, or is larger than 2 MB", u)
	}
	return Media{URL: u, ContentType: resp.Header.Get("Content-Type"), Data: data}, nil
}

// record is a message as the API and webhooks show it.
func (s *Server) record(m Sent, status string, errs []Failure) map[string]any {
	e := []map[string]any{}
	for _, f := range errs {
		e = append(e, map[string]any{"code": f.Code, "title": f.Title, "detail": f.Detail})
	}
	profile := m.MessagingProfileID
	if profile == "" {
		profile = s.opts.ProfileID
	}
	return map[string]any{
		"record_type": "message", "direction": "outbound", "id": m.ID, "type": m.Type,
		"messaging_profile_id": profile,
		"from":                 map[string]any{"phone_number": m.From, "carrier": "Telnyx", "line_type": "Wireless"},
		"to":                   []map[string]any{{"phone_number": m.To, "status": status, "carrier": "Emulated Carrier", "line_type": "Wireless"}},
		"cc":                   []any{}, "text": m.Text, "media": []any{}, "webhook_url": nullable(m.WebhookURL),
		"encoding": m.Encoding, "parts": m.Parts, "tags": []any{}, "errors": e,
		"valid_until": m.At.Add(24 * time.Hour).UTC().Format(time.RFC3339Nano),
	}
}

func (s *Server) autoStatus(hook, id string) {
	defer s.wg.Done()
	for _, st := range []string{"sent", s.opts.FinalStatus} {
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(s.opts.StatusDelay):
		}
		var errs []Failure
		if st != "delivered" && st != "sent" && st != "delivery_unconfirmed" {
			errs = []Failure{{Code: "40008", Title: "Undeliverable", Detail: "The message could not be delivered to the handset."}}
		}
		body, err := s.StatusEvent(id, st, errs...)
		if err != nil {
			return
		}
		// Telnyx makes up to 3 attempts.
		for attempt := 1; attempt <= 3; attempt++ {
			if code, err := s.Post(hook, withAttempt(body, attempt)); err == nil && code/100 == 2 {
				break
			}
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
	}
}

// profile is GET /v2/messaging_profiles/{id}.
func (s *Server) profile(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	if r.PathValue("id") != s.opts.ProfileID {
		writeErrors(w, http.StatusNotFound, Failure{Code: "10005", Title: "Resource not found", Detail: "The requested resource or URL could not be found."})
		return
	}
	s.mu.Lock()
	hook := s.webhook
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"record_type": "messaging_profile", "id": s.opts.ProfileID, "name": "Switchboard emulator", "enabled": true,
		"webhook_url": hook, "webhook_failover_url": "", "webhook_api_version": "2",
		"created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
	}})
}

func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	s.mu.Lock()
	f, ok := s.media[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	_, _ = w.Write(f.data)
}

// Sign returns the telnyx-signature-ed25519 and telnyx-timestamp header
// values for body sent at t.
func (s *Server) Sign(body []byte, t time.Time) (signature, timestamp string) {
	timestamp = strconv.FormatInt(t.Unix(), 10)
	msg := append([]byte(timestamp+"|"), body...)
	s.mu.Lock()
	priv := s.priv
	s.mu.Unlock()
	return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, msg)), timestamp
}

// Request builds a signed webhook POST of body to url, signed at t.
func (s *Server) Request(url string, body []byte, t time.Time) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	sig, ts := s.Sign(body, t)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "telnyx-webhooks")
	req.Header.Set("Telnyx-Signature-Ed25519", sig)
	req.Header.Set("Telnyx-Timestamp", ts)
	return req, nil
}

// Post signs body now and posts it to url, as Telnyx delivers a webhook;
// it returns the answer's status.
func (s *Server) Post(url string, body []byte) (int, error) {
	req, err := s.Request(url, body, s.now())
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Inbound is an SMS or MMS from a phone to one of the account's numbers.
type Inbound struct {
	// ID is Telnyx's message id; default a random UUID. Reuse it to
	// emulate a retried delivery.
	ID       string
	From, To string
	Text     string
	Media    []Media
}

// InboundEvent is the message.received webhook body for in.
func (s *Server) InboundEvent(in Inbound) []byte {
	if in.ID == "" {
		in.ID = uuid()
	}
	typ := "SMS"
	media := []Media{}
	if len(in.Media) > 0 {
		typ, media = "MMS", in.Media
	}
	info := sms.Count(in.Text)
	now := s.now().UTC()
	payload := map[string]any{
		"record_type": "message", "direction": "inbound", "id": in.ID, "type": typ,
		"messaging_profile_id": s.opts.ProfileID,
		"from":                 map[string]any{"phone_number": in.From, "carrier": "Emulated Carrier", "line_type": "Wireless"},
		"to":                   []map[string]any{{"phone_number": in.To, "status": "webhook_delivered", "carrier": "Telnyx", "line_type": "Wireless"}},
		"cc":                   []any{}, "text": in.Text, "media": media, "encoding": info.Encoding, "parts": max(info.Parts, 1),
		"tags": []any{}, "errors": []any{}, "received_at": now.Format(time.RFC3339Nano),
	}
	return s.envelope("message.received", payload, now)
}

// SendInbound posts a signed message.received for in to url.
func (s *Server) SendInbound(url string, in Inbound) (int, error) {
	return s.Post(url, s.InboundEvent(in))
}

// StatusEvent is the webhook body reporting status on a message the API
// accepted: message.sent for scheduled, queued, sending and sent, else
// message.finalized, with errs (a failed status without any gets 40008).
func (s *Server) StatusEvent(messageID, status string, errs ...Failure) ([]byte, error) {
	s.mu.Lock()
	var m *Sent
	for i := range s.sent {
		if s.sent[i].ID == messageID {
			m = &s.sent[i]
		}
	}
	var found Sent
	if m != nil {
		found = *m
	}
	s.mu.Unlock()
	if m == nil {
		return nil, errors.New("telnyxtest: no message " + messageID + " was sent")
	}
	event := "message.finalized"
	switch status {
	case "scheduled", "queued", "sending", "sent":
		event = "message.sent"
	case "delivery_failed", "sending_failed", "expired", "cancelled":
		if len(errs) == 0 {
			errs = []Failure{{Code: "40008", Title: "Undeliverable", Detail: "The message could not be delivered to the handset."}}
		}
	}
	now := s.now().UTC()
	payload := s.record(found, status, errs)
	payload["sent_at"] = found.At.UTC().Format(time.RFC3339Nano)
	if event == "message.finalized" {
		payload["completed_at"] = now.Format(time.RFC3339Nano)
	}
	return s.envelope(event, payload, now), nil
}

// SendStatus posts a signed status report on a sent message to url.
func (s *Server) SendStatus(url, messageID, status string, errs ...Failure) (int, error) {
	body, err := s.StatusEvent(messageID, status, errs...)
	if err != nil {
		return 0, err
	}
	return s.Post(url, body)
}

func (s *Server) envelope(eventType string, payload map[string]any, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"data": map[string]any{"record_type": "event", "id": uuid(), "event_type": eventType,
			"occurred_at": at.Format(time.RFC3339Nano), "payload": payload},
		"meta": map[string]any{"attempt": 1, "delivered_to": ""},
	})
	return b
}

// withAttempt sets meta.attempt, as a retried delivery carries it.
func withAttempt(body []byte, attempt int) []byte {
	var v map[string]any
	if json.Unmarshal(body, &v) != nil {
		return body
	}
	if meta, ok := v["meta"].(map[string]any); ok {
		meta["attempt"] = attempt
	}
	b, _ := json.Marshal(v)
	return b
}

func writeErrors(w http.ResponseWriter, status int, f Failure) {
	if status == 0 {
		status = http.StatusBadRequest
	}
	e := map[string]any{"code": f.Code, "title": f.Title}
	if f.Detail != "" {
		e["detail"] = f.Detail
	}
	if f.Code != "" {
		e["meta"] = map[string]any{"url": "https://developers.telnyx.com/docs/overview/errors/" + f.Code}
	}
	writeJSON(w, status, map[string]any{"errors": []any{e}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func uuid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
