package web

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

// metaDeletion is a Messenger or WhatsApp adapter (package meta) as Meta's
// data-deletion callback uses it.
type metaDeletion interface {
	// Name is the channel key, "<type>/<name>".
	Name() string
	// VerifySignedRequest checks signed_request with the app secret and
	// returns the user_id; refusals are *adapter.Reject (4xx).
	VerifySignedRequest(signed string, now time.Time) (string, error)
	// DeletionIdentifiers are the identity identifiers on the channel that
	// the user_id can match.
	DeletionIdentifiers(userID string) []string
}

// Evidence notes of the callback's requests: fixed phrases.
const (
	noteMetaNoData    = "meta_data_deletion: no contact holds an identity of this user on the channel; no data held"
	noteMetaErased    = "meta_data_deletion: the contact's data all came from the channel and was erased"
	noteMetaElsewhere = "meta_data_deletion: the contact also has identities or conversations on other channels; an admin decides what to erase"
)

// metaDataDeletion serves Meta's data-deletion callback for one Messenger
// or WhatsApp Integration at POST /webhooks/<type>/<name>/data-deletion,
// beside the Integration's webhook (PROVIDERS.md "Meta data-deletion
// callback"). It takes only a form-encoded body (publicFormBody at most),
// checks signed_request with that Integration's app secret, and files a
// rights request (kind erasure, source meta, with a confirmation code):
//   - no contact holds an identity of the user on the channel: the request
//     is completed at once as "no data held";
//   - the contacts that do hold one have no identity and no conversation
//     on any other channel: they are erased whole through privacy.Erase
//     (with the erasure ledger, request id "privacy-request-<id>"), and the
//     request is completed with the counts as evidence;
//   - otherwise the request stays open in the rights queue, naming the
//     contact, for an admin to answer within the deadline; a callback for
//     the same contact while it is open gets that request's code again.
//
// It answers 200 {"url","confirmation_code"}, the url the request's status
// page (/privacy/status?id=<code>) on the workspace's public URL. A refused
// callback (unknown Integration 404, wrong content type 415, bad or
// forged signed_request 400/403) changes nothing; its log line names the
// Integration and the reason, never the user id or the secret.
func (s *Server) metaDataDeletion(w http.ResponseWriter, r *http.Request) error {
	typ, name := r.PathValue("type"), r.PathValue("name")
	md, ok := s.metaDeletionAdapter(typ, name)
	if !ok {
		return metaRefusal(w, http.StatusNotFound, "not_found", "no connected Messenger or WhatsApp integration here")
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		return metaRefusal(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err != nil { // already parsed and size-checked by wrap
		return formError(err)
	}
	userID, err := md.VerifySignedRequest(r.PostForm.Get("signed_request"), time.Now())
	var rej *adapter.Reject
	if errors.As(err, &rej) {
		s.Log.Info("data-deletion callback refused", "type", typ, "integration", name, "reason", rej.Reason, "detail", rej.Detail)
		status := rej.Status
		if status < 400 || status > 499 {
			status = http.StatusBadRequest
		}
		return metaRefusal(w, status, rej.Reason, "signed_request: "+rej.Detail)
	}
	if err != nil {
		return err
	}
	req, err := s.metaErase(r.Context(), md.Name(), md.DeletionIdentifiers(userID))
	if err != nil {
		return err
	}
	s.Log.Info("data-deletion callback handled", "type", typ, "integration", name, "request", req.ID, "status", req.Status)
	writeJSON(w, http.StatusOK, map[string]string{
		"url":               s.statusURL(r, req.ConfirmationCode),
		"confirmation_code": req.ConfirmationCode,
	})
	return nil
}

// metaDeletionAdapter is the open adapter of the Messenger or WhatsApp
// Integration name, if the path's type is its type.
func (s *Server) metaDeletionAdapter(typ, name string) (metaDeletion, bool) {
	if (typ != "messenger" && typ != "whatsapp") || s.Integrations == nil {
		return nil, false
	}
	a, ok := s.Integrations.Get(name)
	if !ok {
		return nil, false
	}
	md, ok := a.(metaDeletion)
	if !ok || md.Name() != contract.ChannelKey(typ, name) {
		return nil, false
	}
	return md, true
}

// metaRefusal answers a refused callback in JSON, as the rest of the
// callback's answers are.
func metaRefusal(w http.ResponseWriter, status int, code, message string) error {
	w.Header().Set("X-Error-Code", code)
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
	return nil
}

// statusURL is the status page of the request with code, on the
// workspace's public URL (or, if none is configured, on the host asked).
func (s *Server) statusURL(r *http.Request, code string) string {
	base := strings.TrimRight(s.PublicURL, "/")
	if base == "" {
		base = "https://" + r.Host
	}
	return base + "/privacy/status?id=" + url.QueryEscape(code)
}

// metaErase files and answers the callback's rights request in one
// transaction (see metaDataDeletion for what it does).
func (s *Server) metaErase(ctx context.Context, channel string, identifiers []string) (*store.PrivacyRequest, error) {
	deadline, err := s.requestDeadline()
	if err != nil {
		return nil, err
	}
	st := s.CRM.Store
	var req *store.PrivacyRequest
	err = st.Transact(ctx, func(tx pgx.Tx) error {
		subjects, err := st.ContactsByIdentity(ctx, tx, channel, identifiers)
		if err != nil {
			return err
		}
		elsewhere := false
		for _, c := range subjects {
			elsewhere = elsewhere || c.Elsewhere
		}
		in := store.NewPrivacyRequest{Kind: store.RequestErasure, SubjectType: store.SubjectContact, Source: store.SourceMeta,
			ReceivedAt: time.Now(), Deadline: deadline, WithCode: true}
		if len(subjects) > 0 {
			in.SubjectID = &subjects[0].ContactID
		}
		if elsewhere {
			if req, err = s.openMetaRequest(ctx, subjects[0].ContactID); req != nil || err != nil {
				return err
			}
		}
		if !elsewhere && len(subjects) > 0 && s.Ledger == nil {
			return errRequestNoLedger
		}
		if req, err = st.CreatePrivacyRequestTx(ctx, tx, in); err != nil {
			return err
		}
		if err := st.Audit(ctx, tx, nil, "system", "privacy_request.created", "privacy_request", req.ID); err != nil {
			return err
		}
		ev := store.Evidence{At: time.Now()}
		switch {
		case elsewhere:
			ev.Note = noteMetaElsewhere
			return st.SetPrivacyRequestEvidence(ctx, tx, req.ID, ev)
		case len(subjects) == 0:
			ev.Action, ev.Note = "erased", noteMetaNoData
		default:
			entries := make([]privacy.Entry, len(subjects))
			for i, c := range subjects {
				entries[i] = privacy.Entry{Kind: privacy.KindContact, SubjectID: c.ContactID, RequestID: fmt.Sprintf("privacy-request-%d", req.ID)}
			}
			counts, err := privacy.Erase(ctx, tx, s.Ledger, entries...)
			if err != nil {
				return err
			}
			for _, c := range subjects {
				if err := st.Audit(ctx, tx, nil, "system", "contact.erased", "contact", c.ContactID); err != nil {
					return err
				}
			}
			ev.Action, ev.Counts, ev.Note = "erased", map[string]int64(counts), noteMetaErased
		}
		if err := st.ClosePrivacyRequest(ctx, tx, req.ID, store.RequestCompleted, nil, ev); err != nil {
			return err
		}
		req, err = st.PrivacyRequestForUpdate(ctx, tx, req.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return req, nil
}

// openMetaRequest is a pending erasure request from an earlier callback
// about the contact, if there is one.
func (s *Server) openMetaRequest(ctx context.Context, contactID int64) (*store.PrivacyRequest, error) {
	page, err := s.CRM.Store.PrivacyRequests(ctx, store.PrivacyRequestFilter{Status: "pending", Kind: store.RequestErasure,
		SubjectType: store.SubjectContact, SubjectID: contactID, Limit: 100})
	if err != nil {
		return nil, err
	}
	for _, r := range page.Requests {
		if r.Source == store.SourceMeta && r.ConfirmationCode != "" {
			return r, nil
		}
	}
	return nil, nil
}
