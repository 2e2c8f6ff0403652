package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// pathDeal returns the deal whose id is in the path.
func (s *Server) pathDeal(r *http.Request) (*store.Deal, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.CRM.Deal(r.Context(), id)
}

func (s *Server) dealShow(w http.ResponseWriter, r *http.Request) error {
	d, err := s.pathDeal(r)
	if err != nil {
		return err
	}
	data, err := s.dealPageData(r, d)
	if err != nil {
		return err
	}
	s.render(w, r, "deal", data)
	return nil
}

// dealPageData is what the deal page shows and offers: its pipeline's
// stages, the members who may own it, the companies, and the people it can
// be tied to (its company's, and its contact).
func (s *Server) dealPageData(r *http.Request, d *store.Deal) (map[string]any, error) {
	ctx := r.Context()
	p, err := s.CRM.Store.PipelineByID(ctx, nil, d.PipelineID)
	if err != nil {
		return nil, err
	}
	users, names, err := s.members(ctx)
	if err != nil {
		return nil, err
	}
	companies, err := s.CRM.Companies(ctx, "", 500)
	if err != nil {
		return nil, err
	}
	var people []*store.ContactRow
	if d.CompanyID != nil {
		if people, err = s.CRM.Contacts(ctx, store.ContactFilter{CompanyID: *d.CompanyID, Limit: 200}); err != nil {
			return nil, err
		}
	}
	if d.ContactID != nil {
		found := false
		for _, c := range people {
			found = found || c.ID == *d.ContactID
		}
		if !found {
			people = append([]*store.ContactRow{{Contact: store.Contact{ID: *d.ContactID, Name: d.ContactName}}}, people...)
		}
	}
	owner := ""
	if d.OwnerID != nil {
		owner = names[*d.OwnerID]
	}
	stage := ""
	for _, st := range p.Stages {
		if st.ID == d.StageID {
			stage = st.Name
		}
	}
	return map[string]any{"D": d, "Pipeline": p, "Stage": stage, "Users": users, "Owner": owner, "Companies": companies, "People": people,
		"CanWrite": auth.Role(currentUser(r).Role).AtLeast(auth.Agent)}, nil
}
