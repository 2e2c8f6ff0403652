package web

import (
	"net/http"
	"sort"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// pathCompany returns the company whose id is in the path.
func (s *Server) pathCompany(r *http.Request) (*store.Company, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.CRM.Company(r.Context(), id)
}

func (s *Server) companyShow(w http.ResponseWriter, r *http.Request) error {
	co, err := s.pathCompany(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	people, err := s.CRM.Contacts(ctx, store.ContactFilter{CompanyID: co.ID, Sort: "name", Limit: 200})
	if err != nil {
		return err
	}
	deals, err := s.CRM.Deals(ctx, store.DealFilter{CompanyID: co.ID, Limit: 200})
	if err != nil {
		return err
	}
	var custom []string
	for k, v := range co.Custom {
		custom = append(custom, k+"="+v)
	}
	sort.Strings(custom)
	s.render(w, r, "company", map[string]any{"Co": co, "People": people, "Deals": deals, "CustomList": custom,
		"CanWrite": auth.Role(currentUser(r).Role).AtLeast(auth.Agent), "Places": s.placesAdapter() != nil})
	return nil
}
