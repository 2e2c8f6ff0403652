package web

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func actor(r *http.Request) *int64 {
	id := currentUser(r).ID
	return &id
}

func splitList(v string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == '\n' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// contactFromForm reads the editable fields of a contact.
func (s *Server) contactFromForm(r *http.Request, c *store.Contact) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("the form does not parse")
	}
	c.Name = strings.TrimSpace(r.PostFormValue("name"))
	c.Emails = splitList(r.PostFormValue("emails"))
	c.Phones = splitList(r.PostFormValue("phones"))
	c.Tags = strings.Fields(strings.ReplaceAll(r.PostFormValue("tags"), ",", " "))
	if r.PostForm.Has("custom") {
		c.Custom = map[string]string{}
		for _, line := range strings.Split(r.PostFormValue("custom"), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if k = strings.TrimSpace(k); ok && k != "" {
				c.Custom[k] = strings.TrimSpace(v)
			} else if strings.TrimSpace(line) != "" {
				return badRequest("custom: one key=value per line")
			}
		}
	}
	c.CompanyID = nil
	if name := strings.TrimSpace(r.PostFormValue("company")); name != "" {
		co, err := s.CRM.EnsureCompany(r.Context(), actor(r), name)
		if err != nil {
			return err
		}
		c.CompanyID = &co.ID
	}
	return nil
}

func (s *Server) contactsList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.ContactFilter{Search: strings.TrimSpace(q.Get("q")), Tag: q.Get("tag"), Limit: 100}
	f.AfterID, _ = strconv.ParseInt(q.Get("after"), 10, 64)
	rows, err := s.CRM.Contacts(r.Context(), f)
	if err != nil {
		return err
	}
	data := map[string]any{"Contacts": rows, "Q": f.Search, "Tag": f.Tag, "CanWrite": auth.Role(currentUser(r).Role).AtLeast(auth.Agent),
		"CanAdmin": auth.Role(currentUser(r).Role).AtLeast(auth.Admin)}
	if len(rows) == f.Limit {
		data["Next"] = fmt.Sprintf("/contacts?q=%s&tag=%s&after=%d", f.Search, f.Tag, rows[len(rows)-1].ID)
	}
	if data["CanAdmin"] == true {
		if data["Duplicates"], err = s.CRM.Duplicates(r.Context(), 20); err != nil {
			return err
		}
	}
	s.render(w, r, "contacts", data)
	return nil
}

func (s *Server) contactCreate(w http.ResponseWriter, r *http.Request) error {
	c := &store.Contact{}
	if err := s.contactFromForm(r, c); err != nil {
		return err
	}
	c, err := s.CRM.CreateContact(r.Context(), actor(r), c)
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/contacts/%d", c.ID), http.StatusSeeOther)
	return nil
}

func (s *Server) contactShow(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	return s.renderContact(w, r, id, "")
}

func (s *Server) renderContact(w http.ResponseWriter, r *http.Request, id int64, errMsg string) error {
	ctx := r.Context()
	c, err := s.CRM.Contact(ctx, id)
	if err != nil {
		return err
	}
	activity, err := s.CRM.Activity(ctx, id, 100)
	if err != nil {
		return err
	}
	pipelines, err := s.CRM.Pipelines(ctx)
	if err != nil {
		return err
	}
	_, names, err := s.team(ctx)
	if err != nil {
		return err
	}
	company := ""
	if c.CompanyID != nil {
		if co, err := s.CRM.Company(ctx, *c.CompanyID); err == nil {
			company = co.Name
		}
	}
	if errMsg != "" {
		w.WriteHeader(http.StatusBadRequest)
	}
	var custom []string
	for k, v := range c.Custom {
		custom = append(custom, k+"="+v)
	}
	sort.Strings(custom)
	s.render(w, r, "contact", map[string]any{"C": c, "Custom": strings.Join(custom, "\n"), "CustomList": custom, "Company": company, "Activity": activity, "Pipelines": pipelines, "Names": names,
		"CanWrite": auth.Role(currentUser(r).Role).AtLeast(auth.Agent), "Error": errMsg})
	return nil
}

func (s *Server) contactUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.CRM.Contact(r.Context(), id)
	if err != nil {
		return err
	}
	if err := s.contactFromForm(r, c); err != nil {
		return err
	}
	if _, err := s.CRM.UpdateContact(r.Context(), actor(r), c); err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/contacts/%d", id), http.StatusSeeOther)
	return nil
}

func (s *Server) contactConsent(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	optOut := r.PostFormValue("marketing_opt_out") == "on"
	restricted := r.PostFormValue("processing_restricted") == "on"
	if _, err := s.CRM.SetConsent(r.Context(), actor(r), id, store.Consent{MarketingOptOut: &optOut, ProcessingRestricted: &restricted}); err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/contacts/%d", id), http.StatusSeeOther)
	return nil
}

func (s *Server) contactNote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := s.CRM.AddNote(r.Context(), actor(r), id, r.PostFormValue("body")); err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/contacts/%d", id), http.StatusSeeOther)
	return nil
}

func (s *Server) contactsMerge(w http.ResponseWriter, r *http.Request) error {
	keep, err1 := strconv.ParseInt(r.PostFormValue("keep"), 10, 64)
	drop, err2 := strconv.ParseInt(r.PostFormValue("drop"), 10, 64)
	if err1 != nil || err2 != nil {
		return badRequest("keep and drop: want contact ids")
	}
	c, err := s.CRM.MergeContacts(r.Context(), actor(r), keep, drop)
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/contacts/%d", c.ID), http.StatusSeeOther)
	return nil
}

func (s *Server) contactsExport(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="contacts-%s.csv"`, time.Now().UTC().Format("2006-01-02")))
	return s.CRM.ExportContacts(r.Context(), actor(r), w)
}

// contactsImport reads a CSV upload and shows the per-row report.
func (s *Server) contactsImport(w http.ResponseWriter, r *http.Request) error {
	f, _, err := r.FormFile("file")
	if err != nil {
		return badRequest("file: choose a CSV file of at most 10 MB")
	}
	defer f.Close()
	rep, err := s.CRM.ImportContacts(r.Context(), actor(r), f)
	if err != nil {
		return err
	}
	s.render(w, r, "import", map[string]any{"R": rep})
	return nil
}

func (s *Server) companiesList(w http.ResponseWriter, r *http.Request) error {
	list, err := s.CRM.Companies(r.Context(), strings.TrimSpace(r.URL.Query().Get("q")), 200)
	if err != nil {
		return err
	}
	s.render(w, r, "companies", map[string]any{"Companies": list, "Q": r.URL.Query().Get("q"), "CanWrite": auth.Role(currentUser(r).Role).AtLeast(auth.Agent)})
	return nil
}

func (s *Server) companyCreate(w http.ResponseWriter, r *http.Request) error {
	c := &store.Company{Name: strings.TrimSpace(r.PostFormValue("name")), Domain: strings.TrimSpace(r.PostFormValue("domain"))}
	if _, err := s.CRM.CreateCompany(r.Context(), actor(r), c); err != nil {
		return err
	}
	http.Redirect(w, r, "/companies", http.StatusSeeOther)
	return nil
}

func (s *Server) pipelineBoard(w http.ResponseWriter, r *http.Request) error {
	pipelines, err := s.CRM.Pipelines(r.Context())
	if err != nil {
		return err
	}
	if len(pipelines) == 0 {
		return errStatus(http.StatusNotFound, "not_found", "no pipeline yet")
	}
	id := pipelines[0].ID
	if v, err := strconv.ParseInt(r.URL.Query().Get("pipeline"), 10, 64); err == nil {
		id = v
	}
	board, err := s.CRM.Board(r.Context(), id)
	if err != nil {
		return err
	}
	s.render(w, r, "pipeline", map[string]any{"Board": board, "Pipelines": pipelines, "CanWrite": auth.Role(currentUser(r).Role).AtLeast(auth.Agent)})
	return nil
}

// parseMoney reads "1234.50" into minor units. Only digits and one decimal
// point are accepted: "1,200" could mean 1200 or 1.2 depending on the
// reader's locale, so it is refused rather than guessed.
func parseMoney(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	whole, frac, hasDot := strings.Cut(v, ".")
	if !allDigits(whole) || (hasDot && !allDigits(frac)) {
		return 0, errors.New("want an amount such as 1200 or 99.90")
	}
	if len(frac) > 2 {
		return 0, errors.New("at most two decimals")
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > 1e13 {
		return 0, errors.New("want an amount below 10,000,000,000,000")
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func (s *Server) dealCreate(w http.ResponseWriter, r *http.Request) error {
	value, err := parseMoney(r.PostFormValue("value"))
	if err != nil {
		return badRequest("value: %v", err)
	}
	stage, err := strconv.ParseInt(r.PostFormValue("stage"), 10, 64)
	if err != nil {
		return badRequest("stage: choose a stage")
	}
	d := &store.Deal{Title: strings.TrimSpace(r.PostFormValue("title")), ValueMinor: value,
		Currency: strings.ToUpper(strings.TrimSpace(r.PostFormValue("currency"))), StageID: stage, OwnerID: actor(r)}
	if c, err := optionalID(r.PostFormValue("contact"), "contact"); err != nil {
		return err
	} else {
		d.ContactID = c
	}
	if _, err := s.CRM.CreateDeal(r.Context(), actor(r), d); err != nil {
		return err
	}
	back := safeNext(r.PostFormValue("back"))
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

func (s *Server) dealMove(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	stage, err := strconv.ParseInt(r.PostFormValue("stage"), 10, 64)
	if err != nil {
		return badRequest("stage: want a stage id")
	}
	d, err := s.CRM.MoveDeal(r.Context(), actor(r), id, stage)
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/pipeline?pipeline=%d", d.PipelineID), http.StatusSeeOther)
	return nil
}

// JSON API mirrors.

func (s *Server) apiContacts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.ContactFilter{Search: q.Get("q"), Tag: q.Get("tag"), Limit: 100}
	f.AfterID, _ = strconv.ParseInt(q.Get("after"), 10, 64)
	rows, err := s.CRM.Contacts(r.Context(), f)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []*store.ContactRow{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"contacts": rows})
	return nil
}

type contactBody struct {
	Name      string            `json:"name"`
	Emails    []string          `json:"emails"`
	Phones    []string          `json:"phones"`
	CompanyID *int64            `json:"companyId"`
	Tags      []string          `json:"tags"`
	Custom    map[string]string `json:"custom"`
}

func (s *Server) apiContactCreate(w http.ResponseWriter, r *http.Request) error {
	var b contactBody
	if err := readJSON(w, r, 64<<10, &b); err != nil {
		return err
	}
	c, err := s.CRM.CreateContact(r.Context(), actor(r), &store.Contact{Name: b.Name, Emails: b.Emails, Phones: b.Phones, CompanyID: b.CompanyID, Tags: b.Tags, Custom: b.Custom})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"contact": c})
	return nil
}

func (s *Server) apiContact(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.CRM.Contact(r.Context(), id)
	if err != nil {
		return err
	}
	activity, err := s.CRM.Activity(r.Context(), id, 100)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"contact": c, "activity": activity})
	return nil
}

func (s *Server) apiContactNote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b textBody
	if err := readJSON(w, r, 64<<10, &b); err != nil {
		return err
	}
	n, err := s.CRM.AddNote(r.Context(), actor(r), id, b.Text)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"note": n})
	return nil
}

func (s *Server) apiPipelines(w http.ResponseWriter, r *http.Request) error {
	p, err := s.CRM.Pipelines(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"pipelines": p})
	return nil
}

func (s *Server) apiBoard(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	b, err := s.CRM.Board(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) apiDealCreate(w http.ResponseWriter, r *http.Request) error {
	var d store.Deal
	if err := readJSON(w, r, 64<<10, &d); err != nil {
		return err
	}
	out, err := s.CRM.CreateDeal(r.Context(), actor(r), &d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"deal": out})
	return nil
}

func (s *Server) apiDealMove(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b struct {
		StageID int64 `json:"stageId"`
	}
	if err := readJSON(w, r, 4<<10, &b); err != nil {
		return err
	}
	d, err := s.CRM.MoveDeal(r.Context(), actor(r), id, b.StageID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"deal": d})
	return nil
}

func (s *Server) apiCompanies(w http.ResponseWriter, r *http.Request) error {
	list, err := s.CRM.Companies(r.Context(), r.URL.Query().Get("q"), 200)
	if err != nil {
		return err
	}
	if list == nil {
		list = []*store.Company{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"companies": list})
	return nil
}

func (s *Server) apiPipelineCreate(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Name   string   `json:"name"`
		Stages []string `json:"stages"`
	}
	if err := readJSON(w, r, 16<<10, &b); err != nil {
		return err
	}
	p, err := s.CRM.CreatePipeline(r.Context(), actor(r), b.Name, b.Stages)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"pipeline": p})
	return nil
}
