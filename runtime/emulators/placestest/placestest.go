// Package placestest emulates Google's Places API (New) as the places
// adapter uses it, for tests and local development:
//
//   - POST /v1/places:autocomplete, answering {"suggestions":[{"placePrediction":
//     {place, placeId, text{text, matches}, structuredFormat{mainText,
//     secondaryText}, types}}]} for the places whose name or address
//     contains the input;
//   - GET /v1/places/{placeId}?sessionToken=..., which requires
//     X-Goog-FieldMask and answers only the fields it names;
//   - Google's errors: a missing key is 403 PERMISSION_DENIED, an unknown
//     one 400 INVALID_ARGUMENT with reason API_KEY_INVALID, and FailWith
//     makes it answer PERMISSION_DENIED or RESOURCE_EXHAUSTED.
//
// It checks X-Goog-Api-Key and records every request and, per session
// token, how many autocomplete and details requests carried it, so a test
// can check that a session is N autocompletes closed by one details call.
//
// Point the adapter at it with the Integration config apiBaseURL = URL.
package placestest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Place is a place the emulator knows.
type Place struct {
	ID string // "ChIJ..."; AddPlace makes one when empty
	// Name and Secondary are a suggestion's two lines (its text is both,
	// comma-separated); Address is the formatted address details answer,
	// which, as Google's, says more (a postcode). Secondary defaults to
	// the part of Address after Name.
	Name, Secondary, Address string
	Latitude, Longitude      float64
	// Components are addressComponents as Google gives them.
	Components []Component
}

// Component is one of a place's address components.
type Component struct {
	LongText, ShortText string
	Types               []string
}

// Request is one request the emulator received.
type Request struct {
	Method, Path string
	// Key is X-Goog-Api-Key as sent; FieldMask X-Goog-FieldMask.
	Key, FieldMask string
	// Session is the sessionToken (body or query); Input the autocomplete input.
	Session, Input string
	// Body is an autocomplete request's JSON body.
	Body   string
	Status int
}

// Session is what one session token was used for.
type Session struct {
	Autocompletes int
	Details       int
	// Reused counts requests that came after the details request had
	// closed the session (Google bills them as a new session).
	Reused int
}

// Server is the emulated API.
type Server struct {
	// URL is the base URL to configure as apiBaseURL.
	URL string
	// APIKey is the key it accepts.
	APIKey string

	srv *httptest.Server

	mu       sync.Mutex
	places   []*Place
	requests []Request
	sessions map[string]*Session
	closed   map[string]bool
	fail     string
}

// New starts the emulator with a fresh key and a few places. Close it when done.
func New() *Server {
	s := &Server{APIKey: "AIza" + randomHex(16), sessions: map[string]*Session{}, closed: map[string]bool{}}
	for _, p := range []Place{
		{Name: "10 Downing Street", Secondary: "London, UK", Address: "10 Downing Street, London SW1A 2AA, UK", Latitude: 51.5033635, Longitude: -0.1276248},
		{Name: "221B Baker Street", Secondary: "London, UK", Address: "221B Baker Street, London NW1 6XE, UK", Latitude: 51.5237629, Longitude: -0.1584743},
		{Name: "Rue de Rivoli 99", Secondary: "Paris, France", Address: "99 Rue de Rivoli, 75001 Paris, France", Latitude: 48.8606111, Longitude: 2.337644},
		{Name: "Unter den Linden 77", Secondary: "Berlin, Germany", Address: "Unter den Linden 77, 10117 Berlin, Germany", Latitude: 52.5163, Longitude: 13.3806},
	} {
		s.AddPlace(p)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// AddPlace adds a place and returns it with its id.
func (s *Server) AddPlace(p Place) Place {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.ID == "" {
		p.ID = "ChIJ" + randomHex(12)
	}
	if p.Secondary == "" {
		p.Secondary = strings.TrimPrefix(strings.TrimPrefix(p.Address, p.Name), ", ")
	}
	s.places = append(s.places, &p)
	return p
}

// Places lists the places known.
func (s *Server) Places() []Place {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Place, len(s.places))
	for i, p := range s.places {
		out[i] = *p
	}
	return out
}

// FailWith makes every request fail with a Google status:
// "PERMISSION_DENIED" (403, the API not enabled for the key's project) or
// "RESOURCE_EXHAUSTED" (429, quota). "" answers normally again.
func (s *Server) FailWith(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = status
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Sessions returns the use of each session token seen.
func (s *Server) Sessions() map[string]Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Session{}
	for k, v := range s.sessions {
		out[k] = *v
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	req := Request{Method: r.Method, Path: r.URL.Path, Key: r.Header.Get("X-Goog-Api-Key"), FieldMask: r.Header.Get("X-Goog-FieldMask")}
	answer := func(status int, v any) {
		req.Status = status
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	var body struct {
		Input        string `json:"input"`
		SessionToken string `json:"sessionToken"`
	}
	autocomplete := r.Method == http.MethodPost && r.URL.Path == "/v1/places:autocomplete"
	id, details := strings.CutPrefix(r.URL.Path, "/v1/places/")
	details = details && r.Method == http.MethodGet && id != "" && !strings.Contains(id, "/")
	if autocomplete {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := json.Unmarshal(b, &body); err != nil {
			answer(http.StatusBadRequest, apiError(400, "Invalid JSON payload received.", "INVALID_ARGUMENT", ""))
			return
		}
		req.Input, req.Session, req.Body = body.Input, body.SessionToken, string(b)
	} else if details {
		req.Session = r.URL.Query().Get("sessionToken")
	} else {
		answer(http.StatusNotFound, apiError(404, "Method not found.", "NOT_FOUND", ""))
		return
	}
	switch {
	case req.Key == "":
		answer(http.StatusForbidden, apiError(403, "The request is missing a valid API key.", "PERMISSION_DENIED", ""))
		return
	case req.Key != s.APIKey:
		answer(http.StatusBadRequest, apiError(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", "API_KEY_INVALID"))
		return
	}
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	switch fail {
	case "PERMISSION_DENIED":
		answer(http.StatusForbidden, apiError(403, "Places API (New) has not been used in project 1 before or it is disabled.", fail, "SERVICE_DISABLED"))
		return
	case "RESOURCE_EXHAUSTED":
		answer(http.StatusTooManyRequests, apiError(429, "Quota exceeded for quota metric 'Requests'.", fail, "RATE_LIMIT_EXCEEDED"))
		return
	}
	if details && req.FieldMask == "" {
		answer(http.StatusBadRequest, apiError(400, "FieldMask is a required parameter. See https://cloud.google.com/apis/docs/system-parameters on how to provide it.", "INVALID_ARGUMENT", ""))
		return
	}
	if autocomplete {
		if strings.TrimSpace(body.Input) == "" {
			answer(http.StatusBadRequest, apiError(400, "input must not be empty.", "INVALID_ARGUMENT", ""))
			return
		}
		s.use(req.Session, false)
		answer(http.StatusOK, s.suggest(body.Input))
		return
	}
	s.mu.Lock()
	var p *Place
	for _, x := range s.places {
		if x.ID == id {
			p = x
		}
	}
	s.mu.Unlock()
	if p == nil {
		answer(http.StatusNotFound, apiError(404, "The requested place was not found.", "NOT_FOUND", ""))
		return
	}
	out, ok := fields(p, req.FieldMask)
	if !ok {
		answer(http.StatusBadRequest, apiError(400, "Invalid field mask "+req.FieldMask, "INVALID_ARGUMENT", ""))
		return
	}
	s.use(req.Session, true)
	answer(http.StatusOK, out)
}

// use counts a request against its session; details closes it.
func (s *Server) use(token string, details bool) {
	if token == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.sessions[token]
	if x == nil {
		x = &Session{}
		s.sessions[token] = x
	}
	if s.closed[token] {
		x.Reused++
	}
	if details {
		x.Details++
		s.closed[token] = true
	} else {
		x.Autocompletes++
	}
}

func (s *Server) suggest(input string) map[string]any {
	in := strings.ToLower(strings.TrimSpace(input))
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []any{}
	for _, p := range s.places {
		text := p.Name + ", " + p.Secondary
		at := strings.Index(strings.ToLower(text), in)
		if at < 0 {
			continue
		}
		out = append(out, map[string]any{"placePrediction": map[string]any{
			"place": "places/" + p.ID, "placeId": p.ID,
			"text": map[string]any{"text": text, "matches": []any{map[string]int{"startOffset": at, "endOffset": at + len(in)}}},
			"structuredFormat": map[string]any{
				"mainText":      map[string]any{"text": p.Name, "matches": []any{}},
				"secondaryText": map[string]any{"text": p.Secondary},
			},
			"types": []string{"street_address", "geocode"},
		}})
		if len(out) == 5 {
			break
		}
	}
	return map[string]any{"suggestions": out}
}

// fields answers the fields a mask names; ok is false for an unknown one.
func fields(p *Place, mask string) (map[string]any, bool) {
	out := map[string]any{}
	for _, f := range strings.Split(mask, ",") {
		switch strings.TrimSpace(f) {
		case "*":
			out["id"], out["formattedAddress"], out["displayName"] = p.ID, p.Address, map[string]string{"text": p.Name, "languageCode": "en"}
			out["location"] = map[string]float64{"latitude": p.Latitude, "longitude": p.Longitude}
		case "id":
			out["id"] = p.ID
		case "formattedAddress":
			out["formattedAddress"] = p.Address
		case "displayName":
			out["displayName"] = map[string]string{"text": p.Name, "languageCode": "en"}
		case "location":
			out["location"] = map[string]float64{"latitude": p.Latitude, "longitude": p.Longitude}
		case "addressComponents":
			var cs []any
			for _, c := range p.Components {
				cs = append(cs, map[string]any{"longText": c.LongText, "shortText": c.ShortText, "types": c.Types, "languageCode": "en"})
			}
			out["addressComponents"] = cs
		default:
			return nil, false
		}
	}
	return out, true
}

func apiError(code int, message, status, reason string) map[string]any {
	e := map[string]any{"code": code, "message": message, "status": status}
	if reason != "" {
		e["details"] = []any{map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com",
			"metadata": map[string]string{"service": "places.googleapis.com"}}}
	}
	return map[string]any{"error": e}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}
