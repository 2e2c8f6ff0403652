package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// requestShow shows a request with the actions of its kind: erase, download
// the bundle, restrict, opt out, or record the corrected fields; assign,
// reject, complete.
func (s *Server) requestShow(w http.ResponseWriter, r *http.Request) error {
	req, err := s.pathRequest(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	users, names, err := s.members(ctx)
	if err != nil {
		return err
	}
	subject, link, gone := "", "", false
	if req.SubjectID != nil {
		switch req.SubjectType {
		case store.SubjectContact:
			c, err := s.CRM.Store.ContactByID(ctx, nil, *req.SubjectID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				gone = true
			case err != nil:
				return err
			default:
				subject, link = c.Name, fmt.Sprintf("/contacts/%d", c.ID)
			}
		case store.SubjectMember:
			u, err := s.CRM.Store.UserByID(ctx, *req.SubjectID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				gone = true
			case err != nil:
				return err
			default:
				subject, link = u.Name, fmt.Sprintf("/settings/team#member-%d", u.ID)
			}
		}
	}
	now := time.Now()
	s.render(w, r, "privacy_requests_show", map[string]any{"R": req, "Users": users, "Names": names,
		"Subject": subject, "SubjectLink": link, "SubjectGone": gone,
		"Overdue": req.Overdue(now), "DueSoon": req.IsDueSoon(now),
		"KindNames": requestKindNames, "StatusNames": requestStatusNames, "Reasons": rejectReasons,
		"Fields": rectifiable[req.SubjectType], "NoLedger": s.Ledger == nil})
	return nil
}

// requestAssign assigns a request (assignee: a member id, or empty for
// nobody) and sets its status (status: open or in_progress), whichever
// the form gives.
func (s *Server) requestAssign(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	_, assign := r.PostForm["assignee"]
	assignee, err := optionalID(r.PostFormValue("assignee"), "assignee")
	if err != nil {
		return err
	}
	if _, err := s.updateRequest(r.Context(), actor(r), id, assign, assignee, r.PostFormValue("status")); err != nil {
		return err
	}
	if err := s.notify(r, notice{Text: "Request updated."}); err != nil {
		return err
	}
	return s.seeOther(w, r, fmt.Sprintf("/requests/%d", id))
}

// requestComplete runs the request's action and completes it (see
// completeRequest): confirm=yes for an erasure, fields for a
// rectification.
func (s *Server) requestComplete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return badRequest("the form does not parse")
	}
	req, err := s.completeRequest(r.Context(), actor(r), id, completion{Confirm: r.PostFormValue("confirm") == "yes", Fields: r.PostForm["fields"]})
	if err != nil {
		return err
	}
	if err := s.notify(r, notice{Text: fmt.Sprintf("Request #%d completed.", req.ID)}); err != nil {
		return err
	}
	return s.seeOther(w, r, fmt.Sprintf("/requests/%d", id))
}

// requestReject rejects a request with a reason code (reason).
func (s *Server) requestReject(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := s.rejectRequest(r.Context(), actor(r), id, r.PostFormValue("reason")); err != nil {
		return err
	}
	if err := s.notify(r, notice{Text: fmt.Sprintf("Request #%d rejected.", id)}); err != nil {
		return err
	}
	return s.seeOther(w, r, fmt.Sprintf("/requests/%d", id))
}
