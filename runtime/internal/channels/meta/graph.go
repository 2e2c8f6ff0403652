// Package meta holds the adapters for Meta's messaging channels: WhatsApp
// Business Cloud API (type "whatsapp") and Messenger (type "messenger").
// Both talk to the Graph API, pinned to GraphVersion, and receive webhooks
// signed with the app secret (X-Hub-Signature-256 over the raw body).
//
// Package metatest is an emulator of the Graph API and of Meta's webhook
// deliveries, for tests and local development.
package meta

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
)

// GraphVersion is the Graph API version every call uses.
const GraphVersion = "v21.0"

// DefaultBaseURL is the Graph API's public endpoint; an Integration's
// config key apiBaseURL overrides it.
const DefaultBaseURL = "https://graph.facebook.com"

// Graph error codes the adapters act on.
const (
	codeAuth          = 190    // the access token expired or was revoked
	codeParameter     = 100    // a bad parameter
	codePermission    = 10     // no permission, or (subcode 2018278) outside Messenger's window
	codeThroughput    = 130429 // WhatsApp throughput reached
	codeUndeliverable = 131026 // WhatsApp: the number cannot receive the message
	codeOutsideWindow = 131047 // WhatsApp: more than 24 hours since the customer last wrote
	codeSpamRate      = 131048 // WhatsApp: spam rate limit
	codePairRate      = 131056 // WhatsApp: too many messages to one number
)

// retryableCodes are Graph errors that go away by themselves: rate and
// throughput limits, and Meta's own temporary failures.
var retryableCodes = map[int]bool{
	1: true, 2: true, 4: true, 17: true, 32: true, 341: true, 613: true,
	codeThroughput: true, codeSpamRate: true, codePairRate: true, 131000: true, 80007: true,
}

// GraphError is an error the Graph API answered, {"error":{...}}. It never
// holds the access token: Meta's messages do not echo it, and the request
// URL is not part of it.
type GraphError struct {
	HTTPStatus int
	Message    string `json:"message"`
	Type       string `json:"type"`
	Code       int    `json:"code"`
	Subcode    int    `json:"error_subcode"`
	Transient  bool   `json:"is_transient"`
	Data       struct {
		Details string `json:"details"`
	} `json:"error_data"`
	TraceID string `json:"fbtrace_id"`
}

func (e *GraphError) Error() string {
	msg := e.Message
	if e.Data.Details != "" && !strings.Contains(msg, e.Data.Details) {
		msg += ": " + e.Data.Details
	}
	if msg == "" {
		msg = http.StatusText(e.HTTPStatus)
	}
	s := fmt.Sprintf("graph error %d", e.Code)
	if e.Subcode != 0 {
		s += fmt.Sprintf("/%d", e.Subcode)
	}
	s += ": " + msg
	if e.TraceID != "" {
		s += " (fbtrace_id " + e.TraceID + ")"
	}
	return s
}

// Retryable says whether trying again later may succeed.
func (e *GraphError) Retryable() bool {
	if e.Code == codeAuth {
		return false
	}
	return e.HTTPStatus >= 500 || e.HTTPStatus == http.StatusTooManyRequests || e.Transient || retryableCodes[e.Code]
}

// graph calls the Graph API with one access token, either as a bearer
// header (WhatsApp's system-user token) or as the access_token query
// parameter (Messenger's page token). Every call carries appsecret_proof,
// which apps that require it refuse calls without.
type graph struct {
	base   string // scheme://host, no version
	client *http.Client
	// inQuery puts the token in the query instead of the header.
	inQuery bool
}

// maxGraphAnswer caps a Graph JSON answer.
const maxGraphAnswer = 4 << 20

// appSecretProof is HMAC-SHA256 of the access token keyed with the app
// secret, hex.
func appSecretProof(token, appSecret string) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// call sends method path?query (path below /vNN.0/) with body as JSON if
// not nil, and decodes a 2xx answer into out. A Graph error is a
// *GraphError; a transport error has the URL's query removed (it may hold
// the token).
func (g *graph) call(ctx context.Context, token, appSecret, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	contentType := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd, contentType = bytes.NewReader(b), "application/json"
	}
	return g.do(ctx, token, appSecret, method, path, query, contentType, rd, out)
}

// upload POSTs fields and one file (form field fileField) to path as
// multipart/form-data, and decodes a 2xx answer into out, as call does.
func (g *graph) upload(ctx context.Context, token, appSecret, path string, fields [][2]string, fileField, filename, contentType string, data []byte, out any) error {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return err
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": fileField, "filename": filename}))
	h.Set("Content-Type", contentType)
	part, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := part.Write(data); err != nil {
		return err
	}
	if err := mw.Close(); err != nil {
		return err
	}
	return g.do(ctx, token, appSecret, http.MethodPost, path, nil, mw.FormDataContentType(), &buf, out)
}

// do sends method path?query with body of contentType (none if "").
func (g *graph) do(ctx context.Context, token, appSecret, method, path string, query url.Values, contentType string, rd io.Reader, out any) error {
	u := strings.TrimRight(g.base, "/") + "/" + GraphVersion + "/" + strings.TrimLeft(path, "/")
	if query == nil {
		query = url.Values{}
	}
	if g.inQuery {
		query.Set("access_token", token)
	}
	if appSecret != "" {
		query.Set("appsecret_proof", appSecretProof(token, appSecret))
	}
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return errors.New("building a Graph API request failed")
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if !g.inQuery {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return redact(err)
	}
	defer resp.Body.Close()
	return decodeGraph(resp, out)
}

// acceptedError is a 2xx answer that could not be read: the call was
// accepted (for a send, the message went), but out is not filled.
type acceptedError struct{ err error }

func (e *acceptedError) Error() string {
	return "the Graph API accepted the call but its answer could not be read: " + e.err.Error()
}

func (e *acceptedError) Unwrap() error { return e.err }

// wasAccepted says whether err is a 2xx answer that could not be read.
func wasAccepted(err error) bool {
	var a *acceptedError
	return errors.As(err, &a)
}

// decodeGraph reads a Graph answer: out on 2xx, a *GraphError otherwise.
func decodeGraph(resp *http.Response, out any) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxGraphAnswer))
	if err != nil {
		if resp.StatusCode/100 == 2 {
			return &acceptedError{redact(err)}
		}
		return redact(err)
	}
	if resp.StatusCode/100 != 2 {
		var env struct {
			Error *GraphError `json:"error"`
		}
		if json.Unmarshal(data, &env) == nil && env.Error != nil {
			env.Error.HTTPStatus = resp.StatusCode
			return env.Error
		}
		return &GraphError{HTTPStatus: resp.StatusCode, Message: "the Graph API answered " + resp.Status}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &acceptedError{fmt.Errorf("the Graph API's answer does not parse: %v", err)}
	}
	return nil
}

// redact removes the query, where a token or proof may be, from the URL a
// transport error (*url.Error) names.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		cp := *ue
		cp.URL = stripQuery(ue.URL)
		return &cp
	}
	return err
}

func stripQuery(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i] + "?[redacted]"
	}
	return raw
}

// deliveryError turns a Graph failure of a send into the outbox's terms:
// retryable errors as they are, the rest Permanent. A transport error is
// retried only if the request never left: Meta's send APIs have no
// idempotency key, so one that may have reached Meta is Unconfirmed
// (adapter.SendError). report gets 190.
func deliveryError(err error, report func(state, code, message string)) error {
	var ge *GraphError
	if !errors.As(err, &ge) {
		return adapter.SendError(err)
	}
	if ge.Code == codeAuth {
		report(authFailed(ge))
		return adapter.Permanent(err)
	}
	if ge.Retryable() {
		return err
	}
	return adapter.Permanent(err)
}

// authFailed is the report for a refused token.
func authFailed(ge *GraphError) (state, code, message string) {
	msg := "Meta refused the access token (error 190): create a new token and rotate the Integration's Secret"
	if ge.Subcode != 0 {
		msg += " (subcode " + strconv.Itoa(ge.Subcode) + ")"
	}
	return contract.HealthAuthFailed, strconv.Itoa(codeAuth), msg
}

// checkLength refuses a body longer than limit characters: how much text a channel takes, in characters.
func checkLength(body string, limit int, channel string) error {
	if n := len([]rune(body)); n > limit {
		return adapter.Permanent(fmt.Errorf("%s takes at most %d characters; this message has %d", channel, limit, n))
	}
	return nil
}

// numericID says whether s is a Graph object id (digits only): ids go into
// URL paths.
func numericID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// sentCache remembers which replies went out, by message id, so a retried
// Deliver (the outbox lost our answer) does not send twice. Meta's send
// APIs have no idempotency key; this covers retries within one process,
// and the outbox's in-flight mark (inbox.AtMostOnce) the rest.
type sentCache struct {
	ids map[int64]string
}

func (c *sentCache) get(id int64) (string, bool) {
	v, ok := c.ids[id]
	return v, ok
}

func (c *sentCache) put(id int64, providerID string) {
	if c.ids == nil || len(c.ids) >= 10000 {
		c.ids = map[int64]string{}
	}
	c.ids[id] = providerID
}

// backoff is the wait before the next attempt after n failures, capped.
func backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}
