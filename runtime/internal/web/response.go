package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
}

func (e *httpError) Error() string { return e.message }

func errStatus(status int, code, format string, args ...any) error {
	return &httpError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return errStatus(http.StatusBadRequest, "invalid", format, args...)
}

// classify maps errors to a status, a code and a message. Unknown errors are
// 500s whose message is generic; the detail goes to the log only.
func classify(err error) *httpError {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he
	case errors.Is(err, store.ErrNotFound):
		return &httpError{http.StatusNotFound, "not_found", "not found"}
	case errors.Is(err, store.ErrConflict):
		return &httpError{http.StatusConflict, "conflict", "it already exists"}
	case errors.Is(err, store.ErrInvalid), errors.Is(err, inbox.ErrEmpty), errors.Is(err, inbox.ErrTooLong):
		return &httpError{http.StatusBadRequest, "invalid", err.Error()}
	case errors.Is(err, store.ErrRestricted): // inbox.ErrReadOnly is the same error
		return &httpError{http.StatusConflict, "restricted", err.Error()}
	case errors.Is(err, inbox.ErrNoChannel):
		return &httpError{http.StatusConflict, "no_channel", err.Error()}
	case errors.Is(err, inbox.ErrOutsideWindow): // the message says what the channel allows now
		return &httpError{http.StatusConflict, "outside_window", err.Error()}
	case errors.Is(err, store.ErrNotFailed):
		return &httpError{http.StatusConflict, "not_failed", err.Error()}
	case errors.Is(err, auth.ErrWeakPassword):
		return &httpError{http.StatusBadRequest, "weak_password", err.Error()}
	case errors.Is(err, context.Canceled):
		return &httpError{499, "canceled", "the request was canceled"}
	}
	return &httpError{http.StatusInternalServerError, "internal", "something went wrong on our side"}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, k kind, err error) {
	he := classify(err)
	w.Header().Set("X-Error-Code", he.code)
	if he.status >= 500 && he.status != 499 {
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	if k == api || strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSON(w, he.status, map[string]any{"error": map[string]string{"code": he.code, "message": he.message}})
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
