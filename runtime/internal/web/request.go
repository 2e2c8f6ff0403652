package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func currentUser(r *http.Request) *store.User {
	u, _ := r.Context().Value(userKey).(*store.User)
	return u
}

func currentSession(r *http.Request) *sessionInfo {
	s, _ := r.Context().Value(sessionKey).(*sessionInfo)
	return s
}

// currentToken is the API token the request came with, or nil for a session.
func currentToken(r *http.Request) *store.APIToken {
	t, _ := r.Context().Value(tokenKey).(*store.APIToken)
	return t
}

// actor is the signed-in member, as the services record who did what.
func actor(r *http.Request) *int64 {
	id := currentUser(r).ID
	return &id
}

// pathID reads a positive id from the path.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("%s: want a positive integer", name)
	}
	return id, nil
}

// optionalID reads a form's id field, which may be empty (nil).
func optionalID(v, field string) (*int64, error) {
	if v == "" {
		return nil, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return nil, badRequest("%s: want an id", field)
	}
	return &id, nil
}

// sameOrigin refuses a form posted from another site to a public route (login
// CSRF), when the browser says where it came from.
func (s *Server) sameOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || !strings.EqualFold(u.Host, r.Host) {
		return errStatus(http.StatusForbidden, "csrf", "this form must be posted from %s", r.Host)
	}
	return nil
}

// readJSON decodes a JSON body of at most max bytes; see decodeJSON.
func readJSON(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, max)
	return decodeJSON(r.Body, max, v)
}

// decodeJSON decodes one JSON value into v, strictly: no unknown field, no
// second value, and only text in its strings. Its errors are 4xx that say
// what is wrong; max is what body reads were limited to, for the 413.
func decodeJSON(body io.Reader, max int64, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return errStatus(http.StatusRequestEntityTooLarge, "too_large", "the body is larger than %d bytes", max)
		case errors.As(err, &te):
			return badRequest("field %s: want %s", te.Field, te.Type)
		case errors.As(err, &se):
			return badRequest("the body is not valid JSON (at byte %d)", se.Offset)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return badRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return badRequest("the body is not valid JSON")
	}
	if dec.More() {
		return badRequest("the body holds more than one JSON value")
	}
	if f := firstBadText(v); f != "" {
		return badRequest("%s: must be UTF-8 text without NUL bytes", f)
	}
	return nil
}
