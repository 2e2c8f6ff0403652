package web

import (
	"net/http"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// apiPrivacyRequests lists rights requests, newest received first:
// ?status= (a status, or pending), kind, overdue, assignee, after, limit.
func (s *Server) apiPrivacyRequests(w http.ResponseWriter, r *http.Request) error {
	f, err := requestFilter(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := s.CRM.Store.PrivacyRequests(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// privacyRequestBody files a request through the API.
type privacyRequestBody struct {
	Kind       string       `json:"kind"`
	Subject    subjectQuery `json:"subject"`
	Requester  string       `json:"requester"`
	ReceivedAt *time.Time   `json:"receivedAt"`
	AssigneeID *int64       `json:"assigneeId"`
}

// apiPrivacyRequestCreate files a request, due at receivedAt (default now)
// plus the workspace's deadline.
func (s *Server) apiPrivacyRequestCreate(w http.ResponseWriter, r *http.Request) error {
	var b privacyRequestBody
	if err := readJSON(w, r, 16<<10, &b); err != nil {
		return err
	}
	in := newRequest{Kind: b.Kind, Subject: b.Subject, Requester: b.Requester, AssigneeID: b.AssigneeID, Source: store.SourceAPI}
	if b.ReceivedAt != nil {
		in.ReceivedAt = *b.ReceivedAt
	}
	req, err := s.fileRequest(r.Context(), actor(r), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"request": req})
	return nil
}

// apiPrivacyRequest returns one request.
func (s *Server) apiPrivacyRequest(w http.ResponseWriter, r *http.Request) error {
	req, err := s.pathRequest(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"request": req})
	return nil
}

// privacyRequestPatch assigns a request (assigneeId; null for nobody), moves
// it between open and in_progress, or rejects it (status rejected, with a
// reason code).
type privacyRequestPatch struct {
	AssigneeID optional[int64]  `json:"assigneeId"`
	Status     optional[string] `json:"status"`
	Reason     string           `json:"reason"`
}

func (s *Server) apiPrivacyRequestUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var p privacyRequestPatch
	if err := readJSON(w, r, 4<<10, &p); err != nil {
		return err
	}
	if p.Status.Set && p.Status.V == store.RequestRejected {
		if p.AssigneeID.Set {
			return fieldError("assigneeId", "assigneeId: a request is assigned or rejected, not both at once")
		}
		req, err := s.rejectRequest(r.Context(), actor(r), id, p.Reason)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"request": req})
		return nil
	}
	if p.Reason != "" {
		return fieldError("reason", "reason: only a rejection has a reason")
	}
	if p.Status.Set && p.Status.Null {
		return fieldError("status", "status: may not be null")
	}
	req, err := s.updateRequest(r.Context(), actor(r), id, p.AssigneeID.Set, p.AssigneeID.ptr(), p.Status.V)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"request": req})
	return nil
}

// privacyRequestCompletion is what completing a request takes: confirm
// for an erasure, fields for a rectification.
type privacyRequestCompletion struct {
	Confirm bool     `json:"confirm"`
	Fields  []string `json:"fields"`
}

// apiPrivacyRequestComplete runs the request's action and completes it.
func (s *Server) apiPrivacyRequestComplete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b privacyRequestCompletion
	if err := readJSON(w, r, 4<<10, &b); err != nil {
		return err
	}
	req, err := s.completeRequest(r.Context(), actor(r), id, completion{Confirm: b.Confirm, Fields: b.Fields})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"request": req})
	return nil
}
