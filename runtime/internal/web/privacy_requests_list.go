package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// requestFilter reads the queue's filters from a query: status (a status,
// or pending), kind, overdue=1, assignee (a member id), after (a cursor).
func requestFilter(q url.Values) (store.PrivacyRequestFilter, error) {
	f := store.PrivacyRequestFilter{Status: q.Get("status"), Kind: q.Get("kind"), After: q.Get("after")}
	if v := q.Get("overdue"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, fieldError("overdue", "overdue: want true or false")
		}
		f.Overdue = b
	}
	if v := q.Get("assignee"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return f, fieldError("assignee", "assignee: want a member id")
		}
		f.AssigneeID = id
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return f, fieldError("limit", "limit: want 1 to 100")
		}
		f.Limit = n
	}
	return f, nil
}

// requestsList shows the rights-request queue, newest received first, with
// what is overdue or due soon; filters by status, kind, overdue, assignee.
func (s *Server) requestsList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if !q.Has("status") {
		q.Set("status", "pending")
	}
	f, err := requestFilter(q)
	if err != nil {
		return err
	}
	page, err := s.CRM.Store.PrivacyRequests(r.Context(), f)
	if err != nil {
		return err
	}
	counts, err := s.CRM.Store.CountPrivacyRequests(r.Context())
	if err != nil {
		return err
	}
	users, _, err := s.members(r.Context())
	if err != nil {
		return err
	}
	next := ""
	if page.Next != "" {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("after", page.Next)
		next = "/requests?" + nq.Encode()
	}
	s.render(w, r, "privacy_requests", map[string]any{"Requests": page.Requests, "F": f, "Counts": counts, "Users": users,
		"Next": next, "Now": time.Now(), "Kinds": store.RequestKinds, "KindNames": requestKindNames, "StatusNames": requestStatusNames})
	return nil
}
