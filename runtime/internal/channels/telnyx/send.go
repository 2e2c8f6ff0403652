package telnyx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

// sendRequest is POST /v2/messages.
type sendRequest struct {
	From               string   `json:"from"`
	To                 string   `json:"to"`
	Text               string   `json:"text"`
	MessagingProfileID string   `json:"messaging_profile_id,omitempty"`
	Type               string   `json:"type"`
	MediaURLs          []string `json:"media_urls,omitempty"`
}

// AtMostOnce implements inbox.AtMostOnce: Telnyx cannot recognise a
// repeated send.
func (a *Adapter) AtMostOnce() {}

// Deliver sends an agent's reply as an SMS and returns Telnyx's message id,
// which its delivery receipts carry. Telnyx has no idempotency key for
// messages, so a send is retried only when it cannot have been sent (the
// request never left, or Telnyx refused it with a retryable error); one
// whose answer was lost is Unconfirmed and not repeated (AtMostOnce).
func (a *Adapter) Deliver(ctx context.Context, out inbox.Outbound) (string, error) {
	key, ok := a.key()
	if !ok {
		return "", errors.New("the Telnyx integration was closed; it is sent once it is connected again")
	}
	if out.Template != nil {
		return "", adapter.Permanent(errors.New("SMS has no message templates"))
	}
	to := strings.TrimSpace(out.Identifier)
	if !e164.MatchString(to) {
		return "", adapter.Permanent(fmt.Errorf("the contact's number %q is not an E.164 number, which SMS needs", to))
	}
	media, err := a.mediaURLs(ctx, out)
	if err != nil {
		return "", err
	}
	typ := "SMS"
	if len(media) > 0 {
		typ = "MMS"
	}
	body, _ := json.Marshal(sendRequest{From: a.phone, To: to, Text: normalize(out.Body), MessagingProfileID: a.profileID, Type: typ, MediaURLs: media})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/v2/messages", bytes.NewReader(body))
	if err != nil {
		return "", adapter.Permanent(errors.New("config apiBaseURL is not a valid URL"))
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			a.report(contract.HealthUnreachable, "", "the Telnyx API did not answer")
		}
		// Telnyx has no idempotency key: unless the request never left,
		// it may have been sent, and is not repeated.
		return "", adapter.SendError(fmt.Errorf("sending through Telnyx: %w", redactURLError(err)))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		var ok struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ok); err != nil || ok.Data.ID == "" {
			// Accepted all the same: sending it again would send it twice.
			// Without its id, Telnyx's status reports cannot find it.
			a.d.Log.Warn("Telnyx accepted a message but its answer had no message id; it stays at sent", "message", out.MessageID)
			a.report(contract.HealthConnected, "", "")
			return "", nil
		}
		a.report(contract.HealthConnected, "", "")
		return ok.Data.ID, nil
	}
	apiErr := readError(resp)
	// Telnyx may quote a media URL it could not fetch: its token lets anyone
	// fetch the file, so it stays out of the reply's failure.
	err = fmt.Errorf("Telnyx refused the message: %s", redactMediaLinks(apiErr.summary(), media))
	switch {
	case apiErr.auth():
		a.report(contract.HealthAuthFailed, apiErr.codeOr(resp.StatusCode), "Telnyx refused the API key: "+apiErr.summary())
		return "", adapter.Permanent(err)
	case retryable(resp.StatusCode, apiErr.Code.String()):
		if resp.StatusCode >= 500 {
			a.report(contract.HealthUnreachable, apiErr.Code.String(), "the Telnyx API answered "+resp.Status)
		}
		return "", err
	}
	// 10016 (not E.164), 40001 (not routable), 40003 (spam), 40008
	// (undeliverable) and every other refusal of the request itself:
	// sending it again gets the same answer.
	return "", adapter.Permanent(err)
}

// retryable says whether Telnyx's refusal may pass later: rate limits
// (10011, 40011), temporary spam blocks (40002), and its own faults.
func retryable(status int, code string) bool {
	switch code {
	case "10011", "40002", "40011":
		return true
	case "10016", "40001", "40003", "40008":
		return false
	}
	return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
}

// apiError is the first of Telnyx's {"errors":[{code,title,detail}]}.
type apiError struct {
	Code   code   `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	status int
}

// readError reads a refusal's body; a body that is not Telnyx's error
// shape leaves only the HTTP status.
func readError(resp *http.Response) apiError {
	var body struct {
		Errors []apiError `json:"errors"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = json.Unmarshal(raw, &body)
	e := apiError{status: resp.StatusCode}
	if len(body.Errors) > 0 {
		e = body.Errors[0]
		e.status = resp.StatusCode
	}
	return e
}

// auth says whether the key was refused: code 10009, or a bare 401.
func (e apiError) auth() bool {
	return e.Code == "10009" || (e.Code == "" && e.status == http.StatusUnauthorized)
}

func (e apiError) codeOr(status int) string {
	if e.Code != "" {
		return e.Code.String()
	}
	return strconv.Itoa(status)
}

// summary is "10009 Authentication failed: detail", or the HTTP status.
func (e apiError) summary() string {
	s := strings.TrimSpace(string(e.Code) + " " + e.Title)
	if e.Detail != "" && e.Detail != e.Title {
		if s != "" {
			s += ": "
		}
		s += e.Detail
	}
	if s == "" {
		s = "HTTP " + strconv.Itoa(e.status)
	}
	return clip(s, 240)
}

// code is an error code, which Telnyx writes as a string ("10009") in API
// answers and sometimes as a number in webhook payloads.
type code string

func (c *code) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*c = code(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*c = code(n.String())
	return nil
}

func (c code) String() string { return string(c) }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

func pathEscape(s string) string { return url.PathEscape(s) }

// redactURLError keeps a transport error's cause but not its URL, which
// for media downloads may carry a signed token.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
