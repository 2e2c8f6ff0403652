package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// requestNew is the form that files a rights request.
func (s *Server) requestNew(w http.ResponseWriter, r *http.Request) error {
	users, _, err := s.members(r.Context())
	if err != nil {
		return err
	}
	deadline, err := s.requestDeadline()
	if err != nil {
		return err
	}
	s.render(w, r, "privacy_requests_new", map[string]any{"Users": users, "Kinds": store.RequestKinds, "KindNames": requestKindNames,
		"Today": time.Now().In(s.location(r)).Format(time.DateOnly), "DeadlineDays": int(deadline.Hours() / 24)})
	return nil
}

// requestCreate files a request from the form: kind; the subject, a
// contact found by email, phone or id (subject_by, subject) or a member
// (member); the requester's email, optional; the day it was received; an
// assignee.
func (s *Server) requestCreate(w http.ResponseWriter, r *http.Request) error {
	in := newRequest{Kind: r.PostFormValue("kind"), Requester: r.PostFormValue("requester"), Source: store.SourceAdmin}
	switch r.PostFormValue("subject_type") {
	case store.SubjectMember:
		in.Subject.Type = store.SubjectMember
		id, err := optionalID(r.PostFormValue("member"), "member")
		if err != nil || id == nil {
			return fieldError("member", "Choose a member.")
		}
		in.Subject.ID = *id
	case store.SubjectContact, "":
		in.Subject.Type = store.SubjectContact
		v := strings.TrimSpace(r.PostFormValue("subject"))
		if v == "" {
			return fieldError("subject", "Give the contact's email address, phone number or id.")
		}
		switch r.PostFormValue("subject_by") {
		case "email", "":
			in.Subject.Email = v
		case "phone":
			in.Subject.Phone = v
		case "id":
			id, err := strconv.ParseInt(strings.TrimPrefix(v, "#"), 10, 64)
			if err != nil || id <= 0 {
				return fieldError("subject", "A contact id is a positive number.")
			}
			in.Subject.ID = id
		default:
			return fieldError("subject_by", "Find the contact by email, phone or id.")
		}
	default:
		return fieldError("subject_type", "The subject is a contact or a member.")
	}
	if v := r.PostFormValue("received"); v != "" {
		d, err := time.ParseInLocation(time.DateOnly, v, s.location(r))
		if err != nil {
			return fieldError("received", "Give the day the request was received, as YYYY-MM-DD.")
		}
		if d.Format(time.DateOnly) != time.Now().In(s.location(r)).Format(time.DateOnly) {
			in.ReceivedAt = d // an earlier day: the deadline runs from its start
		}
	}
	assignee, err := optionalID(r.PostFormValue("assignee"), "assignee")
	if err != nil {
		return err
	}
	in.AssigneeID = assignee
	req, err := s.fileRequest(r.Context(), actor(r), in)
	if err != nil {
		return err
	}
	if err := s.notify(r, notice{Text: fmt.Sprintf("Request #%d filed.", req.ID)}); err != nil {
		return err
	}
	return s.seeOther(w, r, fmt.Sprintf("/requests/%d", req.ID))
}
