package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Public rights requests per client address: a person files one or two, so
// a handful per hour is plenty, and a flood from one address is refused.
const (
	publicRequestsPerAddr  = 5
	publicRequestsWindow   = time.Hour
	publicRequestEmailSize = 254
)

// privacyRequestForm is the state of a refused public request form: the
// kind chosen (one of privacyRequestKinds, never free text) and the field in
// error with its message, which never repeats what was typed.
type privacyRequestForm struct {
	Kind, Field, Error string
}

// privacyPublicRequest files a rights request from the public privacy page:
// the kind and the requester's email, nothing else. The subject is unknown
// until an admin verifies who the person is, so the answer is the same
// whether or not the email matches a contact: the request's status page.
// It needs no sign-in and no CSRF token (there is no session to ride on);
// each client address may file publicRequestsPerAddr per hour.
func (s *Server) privacyPublicRequest(w http.ResponseWriter, r *http.Request) error {
	if err := s.sameOrigin(r); err != nil {
		return err
	}
	kind := r.PostFormValue("kind")
	form := &privacyRequestForm{}
	for _, k := range privacyRequestKinds {
		if k.Value == kind {
			form.Kind = kind
		}
	}
	refuse := func(status int, field, msg string) error {
		if wantsJSONError(r) || r.Header.Get("Accept") == "application/json" {
			return &httpError{status: status, code: "invalid", message: msg, field: field}
		}
		form.Field, form.Error = field, msg
		w.WriteHeader(status)
		s.render(w, r, "privacy", s.privacyFacts(form))
		return nil
	}
	if form.Kind == "" {
		return refuse(http.StatusBadRequest, "kind", "kind: choose what you are asking for")
	}
	email, ok := publicRequestEmail(r.PostFormValue("email"))
	if !ok {
		return refuse(http.StatusBadRequest, "email", "email: enter the email address we should answer, such as name@example.com")
	}
	deadline, err := s.requestDeadline()
	if err != nil {
		return err
	}
	limiter := s.Sessions.Limiter("privacy-request", publicRequestsPerAddr, publicRequestsWindow)
	if _, allowed, wait, err := limiter.Begin(r.Context(), limitKey(clientAddr(r, s.TrustedProxies))); err != nil {
		return err
	} else if !allowed {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		return refuse(http.StatusTooManyRequests, "email",
			fmt.Sprintf("Too many requests from your network. Try again in %d minutes.", int(wait.Minutes())+1))
	}
	var req *store.PrivacyRequest
	st := s.CRM.Store
	err = st.Transact(r.Context(), func(tx pgx.Tx) error {
		var err error
		req, err = st.CreatePrivacyRequestTx(r.Context(), tx, store.NewPrivacyRequest{
			Kind: form.Kind, SubjectType: store.SubjectContact, Requester: email, Source: store.SourcePublic,
			ReceivedAt: time.Now(), Deadline: deadline, WithCode: true,
		})
		if err != nil {
			return err
		}
		return st.Audit(r.Context(), tx, nil, "system", "privacy_request.created", "privacy_request", req.ID)
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("filing a public rights request: %w", err)
	}
	return s.seeOther(w, r, "/privacy/status?id="+url.QueryEscape(req.ConfirmationCode))
}

// publicRequestEmail is the address a person gave, if it is one plain
// address (no display name, no list) of a sensible length.
func publicRequestEmail(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > publicRequestEmailSize {
		return "", false
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Name != "" || a.Address != v || !strings.Contains(v[strings.LastIndexByte(v, '@')+1:], ".") {
		return "", false
	}
	return auth.NormalizeEmail(v), true
}
