// Package places is the "googlePlaces" Integration: address autocomplete
// on contact and company addresses through Google's Places API (New),
// proxied by the runtime so that the API key never reaches a browser.
//
// Config: placeId, the business's own place, around which suggestions are
// biased (optional), and apiBaseURL (tests). Credentials: apiKey.
//
// Billing follows Google's sessions: the browser makes one session token
// (a UUID) per address being typed; every autocomplete request of that
// address carries it, and the place details request that fills the field
// carries it too, which ends the session. Details ask for
// DetailsFieldMask only: the field mask decides what Google bills.
package places

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
)

// Type is the Integration type.
const Type = "googlePlaces"

// DefaultBaseURL is Google's Places API (New).
const DefaultBaseURL = "https://places.googleapis.com"

// DetailsFieldMask is what a session's closing details request asks for:
// the address that fills the field, nothing else.
const DetailsFieldMask = "formattedAddress"

// biasFieldMask is what the business's own place is read for: where it is.
const biasFieldMask = "location"

// biasRadius is the radius, in metres, of the circle around the business
// that suggestions favour (Google's largest).
const biasRadius = 50000.0

// Limits on what is sent.
const (
	// MinInput is the shortest input worth a request.
	MinInput = 3
	// MaxInput bounds the input, in characters.
	MaxInput = 200
)

// Per-user rate limit: a burst of RateBurst requests, then one every
// RateEvery. Typing with the browser's debounce stays well inside it.
const (
	RateBurst = 30
	RateEvery = time.Second
)

// Errors. Their text is what the browser may see.
var (
	// ErrUnavailable: Google refused or did not answer; the details are
	// in the Integration's status, never in the answer.
	ErrUnavailable = errors.New("address lookup unavailable")
	// ErrInvalid: a malformed session token or place id, or one Google
	// does not know.
	ErrInvalid = errors.New("invalid session or place")
	// ErrClosed: the Integration was disconnected.
	ErrClosed = fmt.Errorf("%w: disconnected", ErrUnavailable)
)

func init() { adapter.Register(Type, New) }

// Adapter is one open googlePlaces Integration.
type Adapter struct {
	d       adapter.Deps
	base    string
	placeID string
	client  *http.Client

	mu     sync.RWMutex
	key    string
	closed bool
	// bias is the business's location, once read.
	bias *LatLng

	lmu     sync.Mutex
	buckets map[string]*bucket
}

// LatLng is a point.
type LatLng struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// New builds the adapter; it is the Type's adapter.Factory.
func New(d adapter.Deps) (adapter.Adapter, error) {
	key := d.Credentials["apiKey"]
	if key == "" {
		return nil, errors.New("credentials lack apiKey")
	}
	placeID := strings.TrimSpace(d.Info.Config["placeId"])
	if placeID != "" && !ValidPlaceID(placeID) {
		return nil, errors.New("config placeId is not a Google place id")
	}
	client := d.HTTP
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if d.Report == nil {
		d.Report = func(string, string, string) {}
	}
	return &Adapter{d: d, base: strings.TrimRight(d.ConfigURL("apiBaseURL", DefaultBaseURL), "/"), placeID: placeID,
		client: client, key: key, buckets: map[string]*bucket{}}, nil
}

// Run reads where the business is (config placeId), to bias suggestions
// around it, and so checks the key; retrying while Google cannot be
// reached. Without a placeId there is nothing to read: the key is checked
// by the first lookup, as checking it otherwise would be billed.
func (a *Adapter) Run(ctx context.Context) {
	wait := 5 * time.Second
	for a.placeID != "" {
		var p struct {
			Location *LatLng `json:"location"`
		}
		b, err := a.call(ctx, http.MethodGet, "/v1/places/"+url.PathEscape(a.placeID), nil, biasFieldMask)
		if err == nil {
			if json.Unmarshal(b, &p) == nil && p.Location != nil {
				a.mu.Lock()
				a.bias = p.Location
				a.mu.Unlock()
			}
			break
		}
		if !errors.Is(err, errRetry) {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Minute)
	}
	<-ctx.Done()
}

// Close drops the key.
func (a *Adapter) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.key, a.closed = "", true
}

// Credentials returns the key while open.
func (a *Adapter) Credentials() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return nil
	}
	return []string{a.key}
}

// Suggestion is one autocomplete prediction.
type Suggestion struct {
	PlaceID string `json:"placeId"`
	// Text is the whole prediction; Main and Secondary its two lines
	// ("Rue de Rivoli", "Paris, France").
	Text      string `json:"text"`
	Main      string `json:"main"`
	Secondary string `json:"secondary"`
}

// Place is what the details request returns.
type Place struct {
	ID      string `json:"id"`
	Address string `json:"address"`
}

var (
	sessionRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	placeIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,512}$`)
)

// ValidSession says whether s is a session token as the browser makes
// them: a UUID (crypto.randomUUID), which Google takes as is.
func ValidSession(s string) bool { return sessionRE.MatchString(s) }

// ValidPlaceID says whether s can be a Google place id.
func ValidPlaceID(s string) bool { return placeIDRE.MatchString(s) }

// Autocomplete asks for predictions of input within the session.
func (a *Adapter) Autocomplete(ctx context.Context, input, session string) ([]Suggestion, error) {
	input = strings.TrimSpace(input)
	if !ValidSession(session) || !utf8.ValidString(input) || utf8.RuneCountInString(input) > MaxInput {
		return nil, ErrInvalid
	}
	if utf8.RuneCountInString(input) < MinInput {
		return []Suggestion{}, nil
	}
	req := map[string]any{"input": input, "sessionToken": session}
	a.mu.RLock()
	if a.bias != nil {
		req["locationBias"] = map[string]any{"circle": map[string]any{"center": a.bias, "radius": biasRadius}}
	}
	a.mu.RUnlock()
	body, _ := json.Marshal(req)
	b, err := a.call(ctx, http.MethodPost, "/v1/places:autocomplete", body, "")
	if err != nil {
		return nil, err
	}
	out, err := ParseAutocomplete(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return out, nil
}

// Details reads a place's address, closing the session.
func (a *Adapter) Details(ctx context.Context, placeID, session string) (*Place, error) {
	if !ValidSession(session) || !ValidPlaceID(placeID) {
		return nil, ErrInvalid
	}
	b, err := a.call(ctx, http.MethodGet, "/v1/places/"+url.PathEscape(placeID)+"?sessionToken="+url.QueryEscape(session), nil, DetailsFieldMask)
	if err != nil {
		return nil, err
	}
	p, err := ParseDetails(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if p.ID == "" {
		p.ID = placeID
	}
	return p, nil
}

// ParseAutocomplete reads an autocomplete answer's place predictions
// (query predictions, which name no place, are left out).
func ParseAutocomplete(b []byte) ([]Suggestion, error) {
	type text struct {
		Text string `json:"text"`
	}
	var r struct {
		Suggestions []struct {
			PlacePrediction *struct {
				Place            string `json:"place"`
				PlaceID          string `json:"placeId"`
				Text             text   `json:"text"`
				StructuredFormat struct {
					MainText      text `json:"mainText"`
					SecondaryText text `json:"secondaryText"`
				} `json:"structuredFormat"`
			} `json:"placePrediction"`
		} `json:"suggestions"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, errors.New("the autocomplete answer is not JSON of the documented shape")
	}
	out := []Suggestion{}
	for _, s := range r.Suggestions {
		p := s.PlacePrediction
		if p == nil {
			continue
		}
		id := p.PlaceID
		if id == "" {
			id = strings.TrimPrefix(p.Place, "places/")
		}
		if !ValidPlaceID(id) {
			continue
		}
		out = append(out, Suggestion{PlaceID: id, Text: p.Text.Text, Main: p.StructuredFormat.MainText.Text, Secondary: p.StructuredFormat.SecondaryText.Text})
	}
	return out, nil
}

// ParseDetails reads a place details answer.
func ParseDetails(b []byte) (*Place, error) {
	var r struct {
		ID               string `json:"id"`
		FormattedAddress string `json:"formattedAddress"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, errors.New("the details answer is not JSON of the documented shape")
	}
	if r.FormattedAddress == "" {
		return nil, errors.New("the place has no formattedAddress")
	}
	return &Place{ID: r.ID, Address: r.FormattedAddress}, nil
}

// APIError is Google's error body. Reason is the first ErrorInfo reason of
// its details (API_KEY_INVALID, SERVICE_DISABLED, ...), if any.
type APIError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	Reason  string `json:"-"`
}

// ParseError reads {"error":{code,message,status,details}}; ok is false if
// b is not one.
func ParseError(b []byte) (e APIError, ok bool) {
	var r struct {
		Error *struct {
			APIError
			Details []struct {
				Reason string `json:"reason"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &r) != nil || r.Error == nil || r.Error.Status == "" {
		return APIError{}, false
	}
	e = r.Error.APIError
	for _, d := range r.Error.Details {
		if d.Reason != "" {
			e.Reason = d.Reason
			break
		}
	}
	return e, true
}

// errRetry marks failures worth trying again later.
var errRetry = errors.New("try again later")

const maxResponse = 1 << 20

// call sends one request with the key. Neither what it returns nor what it
// reports holds the key or Google's own words.
func (a *Adapter) call(ctx context.Context, method, path string, body []byte, fieldMask string) ([]byte, error) {
	a.mu.RLock()
	key, closed := a.key, a.closed
	a.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("X-Goog-Api-Key", key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if fieldMask != "" {
		req.Header.Set("X-Goog-FieldMask", fieldMask)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		a.d.Report(contract.HealthUnreachable, "", "Google Places did not answer")
		return nil, fmt.Errorf("%w: no answer: %w", ErrUnavailable, errRetry)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %w", ErrUnavailable, errRetry)
	}
	if resp.StatusCode == http.StatusOK {
		a.d.Report(contract.HealthConnected, "", "")
		return b, nil
	}
	e, _ := ParseError(b)
	status := e.Status
	if status == "" || len(status) > 40 {
		status = strconv.Itoa(resp.StatusCode)
	}
	reason := e.Reason
	if len(reason) > 60 {
		reason = ""
	}
	switch {
	case reason == "API_KEY_INVALID":
		// Google answers an unknown key with 400 INVALID_ARGUMENT.
		a.d.Report(contract.HealthAuthFailed, reason, "Google does not know the API key")
	case status == "PERMISSION_DENIED" || status == "UNAUTHENTICATED" || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
		msg := "Google refused the API key: check its restrictions, and that the Places API (New) is enabled for its project"
		if reason != "" {
			msg += " (" + reason + ")"
		}
		a.d.Report(contract.HealthAuthFailed, status, msg)
	case status == "RESOURCE_EXHAUSTED" || resp.StatusCode == http.StatusTooManyRequests:
		a.d.Report(contract.HealthUnreachable, status, "the Places API quota or rate limit is used up for now")
	case status == "INVALID_ARGUMENT" || status == "NOT_FOUND" || resp.StatusCode == http.StatusNotFound:
		return nil, ErrInvalid
	case resp.StatusCode >= 500:
		a.d.Report(contract.HealthUnreachable, status, "Google Places answered "+strconv.Itoa(resp.StatusCode))
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, status, errRetry)
	}
	return nil, fmt.Errorf("%w: %s", ErrUnavailable, status)
}

type bucket struct {
	tokens float64
	at     time.Time
}

// Allow takes one request from user's allowance: RateBurst at once, then
// one per RateEvery. The web layer asks before each lookup.
func (a *Adapter) Allow(user string) bool {
	now := a.d.Clock()
	a.lmu.Lock()
	defer a.lmu.Unlock()
	b, ok := a.buckets[user]
	if !ok {
		if len(a.buckets) >= 10000 { // a workspace has far fewer members
			for k, x := range a.buckets {
				if now.Sub(x.at) > RateBurst*RateEvery {
					delete(a.buckets, k)
				}
			}
		}
		b = &bucket{tokens: RateBurst, at: now}
		a.buckets[user] = b
	}
	b.tokens = min(RateBurst, b.tokens+float64(max(0, now.Sub(b.at)))/float64(RateEvery))
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
