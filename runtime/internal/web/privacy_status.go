package web

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Unknown confirmation codes per client address: a person mistypes one now
// and then; guessing needs many more (and codes are 192 random bits).
const (
	statusMissesPerAddr = 30
	statusMissesWindow  = time.Hour
	maxStatusCode       = 64
)

// statusCategories name the evidence's tables as the status page shows
// them: kinds of data, never the data.
var statusCategories = map[string]string{
	"contacts":                  "contact record",
	"contact_identities":        "channel identities (such as a Messenger id or a phone number)",
	"conversations":             "conversations",
	"messages":                  "messages",
	"attachments":               "attachments",
	"delivery_events":           "delivery receipts",
	"email_messages":            "email headers",
	"outbox":                    "queued outgoing messages",
	"notes":                     "notes about the person",
	"notifications":             "team notifications about the conversations",
	"conversation_events":       "conversation history",
	"conversation_reads":        "read markers",
	"consent_events":            "consent history",
	"deals.contact_id":          "deals, kept without the person",
	"usage_events.contact_id":   "usage records, kept without the person",
	"users":                     "member account",
	"sessions":                  "sign-in sessions",
	"api_tokens":                "API tokens",
	"team_members":              "team memberships",
	"invites":                   "invitations",
	"oauth_states":              "pending connections",
	"notes.author_id":           "notes, kept without their author",
	"messages.author_id":        "replies, kept without their author",
	"deals.owner_id":            "deals, kept without their owner",
	"conversations.assignee_id": "conversations, kept without their assignee",
}

// statusCategory is one line of what was done: how many rows of a kind.
type statusCategory struct {
	What  string
	Count int64
}

// privacyStatus shows the state of one rights request, found by its
// confirmation code (?id=), to anyone who has the code: no sign-in, no
// JavaScript. It shows the kind, the state, when it was received, when it
// is due or was closed, and for a completed erasure the kinds of data and
// row counts; no personal data and no ids. An unknown code is a 404 with a
// neutral page; an address that asks for statusMissesPerAddr unknown codes
// in an hour gets 429 until the window passes.
func (s *Server) privacyStatus(w http.ResponseWriter, r *http.Request) error {
	code := r.URL.Query().Get("id")
	limiter := s.Sessions.Limiter("privacy-status", statusMissesPerAddr, statusMissesWindow)
	attempt, allowed, wait, err := limiter.Begin(r.Context(), limitKey(clientAddr(r, s.TrustedProxies)))
	if err != nil {
		return err
	}
	if !allowed {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		return errStatus(http.StatusTooManyRequests, "rate_limited", "Too many unknown codes from your network. Try again in %d minutes.", int(wait.Minutes())+1)
	}
	var req *store.PrivacyRequest
	if code != "" && len(code) <= maxStatusCode {
		req, err = s.CRM.Store.PrivacyRequestByCode(r.Context(), code)
	}
	switch {
	case req == nil && (err == nil || errors.Is(err, store.ErrNotFound)):
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotFound)
		s.render(w, r, "privacy_status", map[string]any{"Unknown": true})
		return nil
	case err != nil:
		return err
	}
	if err := attempt.Succeeded(r.Context()); err != nil {
		return err
	}
	var cats []statusCategory
	for _, k := range slices.Sorted(maps.Keys(req.Evidence.Counts)) {
		what, ok := statusCategories[k]
		if !ok {
			what = "other records"
		}
		cats = append(cats, statusCategory{What: what, Count: req.Evidence.Counts[k]})
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.render(w, r, "privacy_status", map[string]any{
		"R":          req,
		"Kind":       strings.ToLower(requestKindNames[req.Kind]),
		"State":      requestStatusNames[req.Status],
		"Categories": cats,
		"NoData":     req.Status == store.RequestCompleted && req.Kind == store.RequestErasure && len(cats) == 0,
	})
	return nil
}
