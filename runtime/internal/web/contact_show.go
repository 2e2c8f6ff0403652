package web

import (
	"net/http"
	"sort"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

func (s *Server) contactShow(w http.ResponseWriter, r *http.Request) error {
	c, err := s.pathContact(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	activity, err := s.CRM.Activity(ctx, c.ID, 100)
	if err != nil {
		return err
	}
	pipelines, err := s.CRM.Pipelines(ctx)
	if err != nil {
		return err
	}
	_, names, err := s.members(ctx)
	if err != nil {
		return err
	}
	company := ""
	if c.CompanyID != nil {
		if co, err := s.CRM.Company(ctx, *c.CompanyID); err == nil {
			company = co.Name
		}
	}
	var custom []string
	for k, v := range c.Custom {
		custom = append(custom, k+"="+v)
	}
	sort.Strings(custom)
	s.render(w, r, "contact", map[string]any{"C": c, "Custom": strings.Join(custom, "\n"), "CustomList": custom, "Company": company, "Activity": activity, "Pipelines": pipelines, "Names": names,
		"CanWrite": auth.Role(currentUser(r).Role).AtLeast(auth.Agent), "CanAdmin": auth.Role(currentUser(r).Role).AtLeast(auth.Admin), "Places": s.placesAdapter() != nil, "Shopify": len(s.shopifyAdapters()) > 0})
	return nil
}
