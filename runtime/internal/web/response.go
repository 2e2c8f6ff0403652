package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// httpError is an error with a status, a stable code and a message safe to show.
type httpError struct {
	status  int
	code    string
	message string
	field   string // the form field the message is about, if one is
}

func (e *httpError) Error() string { return e.message }

func errStatus(status int, code, format string, args ...any) error {
	return &httpError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return errStatus(http.StatusBadRequest, "invalid", format, args...)
}

// fieldError is a 400 about one form field: a browser shows the message next
// to the input of that name and keeps what was typed.
func fieldError(field, format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, code: "invalid", message: fmt.Sprintf(format, args...), field: field}
}

// fieldConflict is a 409 about one form field, such as a name already taken.
func fieldConflict(field, format string, args ...any) error {
	return &httpError{status: http.StatusConflict, code: "conflict", message: fmt.Sprintf(format, args...), field: field}
}

// messageField reads the field a legacy message names, "name: want ...".
var messageField = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9_]{0,40}): `)

// errorField is the field an error is about, if any.
func errorField(he *httpError) string {
	if he.field != "" {
		return he.field
	}
	if m := messageField.FindStringSubmatch(he.message); m != nil {
		return m[1]
	}
	return ""
}

// wantsJSONError says whether a page request came from the app's own script
// (a fetch-submitted form, or htmx), which shows an error next to the form
// instead of loading an error page.
func wantsJSONError(r *http.Request) bool {
	return r.Header.Get("X-Switchboard-Form") == "1" || r.Header.Get("HX-Request") == "true"
}

// classify maps errors to a status, a code and a message. Unknown errors are
// 500s whose message is generic; the detail goes to the log only.
func classify(err error) *httpError {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he
	case errors.Is(err, store.ErrNotFound):
		return &httpError{status: http.StatusNotFound, code: "not_found", message: "not found"}
	case errors.Is(err, store.ErrConflict):
		return &httpError{status: http.StatusConflict, code: "conflict", message: "it already exists"}
	case errors.Is(err, store.ErrInvalid), errors.Is(err, inbox.ErrEmpty), errors.Is(err, inbox.ErrTooLong), errors.Is(err, inbox.ErrAttachments):
		return &httpError{status: http.StatusBadRequest, code: "invalid", message: err.Error()}
	case errors.Is(err, store.ErrRestricted): // inbox.ErrReadOnly is the same error
		return &httpError{status: http.StatusConflict, code: "restricted", message: err.Error()}
	case errors.Is(err, inbox.ErrNoChannel):
		return &httpError{status: http.StatusConflict, code: "no_channel", message: err.Error()}
	case errors.Is(err, inbox.ErrOutsideWindow): // the message says what the channel allows now
		return &httpError{status: http.StatusConflict, code: "outside_window", message: err.Error()}
	case errors.Is(err, store.ErrNotFailed):
		return &httpError{status: http.StatusConflict, code: "not_failed", message: err.Error()}
	case errors.Is(err, auth.ErrWeakPassword):
		return &httpError{status: http.StatusBadRequest, code: "weak_password", message: err.Error()}
	case errors.Is(err, context.Canceled):
		return &httpError{status: 499, code: "canceled", message: "the request was canceled"}
	}
	return &httpError{status: http.StatusInternalServerError, code: "internal", message: "something went wrong on our side"}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, k kind, err error) {
	he := classify(err)
	w.Header().Set("X-Error-Code", he.code)
	if he.status >= 500 && he.status != 499 {
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	if k == api || strings.HasPrefix(r.URL.Path, "/api/") {
		body := map[string]string{"code": he.code, "message": he.message}
		if he.field != "" {
			body["field"] = he.field
		}
		writeJSON(w, he.status, map[string]any{"error": body})
		return
	}
	if he.status == http.StatusUnauthorized {
		if r.Header.Get("HX-Request") == "true" {
			w.Header().Set("HX-Redirect", "/login")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// Only a page to look at comes back after sign-in, and only one of ours.
		to := "/login"
		if next := r.URL.RequestURI(); r.Method == http.MethodGet && localPath(next) {
			to += "?next=" + url.QueryEscape(next)
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	if wantsJSONError(r) {
		body := map[string]string{"code": he.code, "message": he.message}
		if f := errorField(he); f != "" {
			body["field"] = f
		}
		writeJSON(w, he.status, map[string]any{"error": body})
		return
	}
	w.WriteHeader(he.status)
	s.render(w, r, "error", map[string]any{"Status": he.status, "Message": he.message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}
