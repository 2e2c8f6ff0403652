package web

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// privacyPageMaxAge is how long browsers and proxies may keep the public
// privacy page. The runtime learns a policy change when the operator rolls
// it out with the new settings; the page then shows it to anyone who loads
// it after this much more.
const privacyPageMaxAge = 30 * time.Second

// privacyPage serves the public privacy-facts page: what the workspace keeps
// and for how long, where it lives, which providers it is connected to, and
// the form to file a rights request. It needs no sign-in and no script, and
// names nothing but types of things: no Integration names, accounts or
// people.
func (s *Server) privacyPage(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(privacyPageMaxAge.Seconds())))
	s.render(w, r, "privacy", s.privacyFacts(nil))
	return nil
}

// privacyFacts is the page's data. form holds a refused request form's
// state (the kind chosen, the field in error), or nil.
func (s *Server) privacyFacts(form *privacyRequestForm) map[string]any {
	ret := s.Retention
	deadline := orDefault(ret.DSRDeadline, "30d")
	if form == nil {
		form = &privacyRequestForm{}
	}
	return map[string]any{
		"Categories":      privacyCategories(ret.Rules()),
		"BackupRetain":    policyWords(orDefault(ret.BackupRetainFor, "30d"), ""),
		"AfterDeletion":   policyWords(orDefault(ret.BackupAfterDeletion, "90d"), ""),
		"Shred":           ret.BackupShredOnDelete,
		"NoBackups":       ret.NoBackups,
		"AfterDisconnect": policyWords(orDefault(ret.CredentialsAfterDisconnect, "0d"), ""),
		"Deadline":        policyWords(deadline, ""),
		"Region":          ret.Region,
		"Processors":      s.subProcessors(),
		"OwnMail":         s.hasIntegrationType("imap"),
		"Kinds":           privacyRequestKinds,
		"Form":            form,
	}
}

// privacyCategory is one category of data as the page shows it.
type privacyCategory struct {
	What, Kept, Then string
}

// privacyCategoryInfo describes each RetentionPolicy category in plain
// words, in the order the page lists them (runtime/privacy/retention has
// what each covers, table by table).
var privacyCategoryInfo = []struct{ key, what string }{
	{"contacts", "Contacts: names, email addresses, phone numbers and notes about people"},
	{"conversations", "Conversations and their messages, with attachments"},
	{"deliveryEvents", "Delivery records of outgoing messages (sent, delivered, read, failed)"},
	{"financialRecords", "Invoices, credit notes and payments"},
	{"usageEvents", "Usage records: sign-ins, messages sent and received, exports and API calls"},
	{"auditLog", "The audit log: which member did what, by record number"},
	{"sessions", "Sign-in data of the team: sessions, failed sign-ins and invitations"},
}

// privacyCategories lists every category with its retention in force; a
// category the policy does not name is kept until deleted.
func privacyCategories(rules []RetentionRule) []privacyCategory {
	byCat := map[string]RetentionRule{}
	for _, r := range rules {
		byCat[r.Category] = r
	}
	out := make([]privacyCategory, 0, len(privacyCategoryInfo))
	for _, c := range privacyCategoryInfo {
		pc := privacyCategory{What: c.what, Kept: "kept until deleted"}
		if r, ok := byCat[c.key]; ok {
			if words := policyWords(r.RetainFor, ""); words != "" {
				pc.Kept = words
				if c.key == "contacts" || c.key == "conversations" {
					pc.Kept += " after the last activity"
				}
				pc.Then = "then deleted"
				if r.Action == "Anonymize" {
					pc.Then = "then kept without anything that identifies a person"
				}
			}
		}
		out = append(out, pc)
	}
	return out
}

// subProcessorOf names the provider behind each Integration type that
// processes the workspace's data for it. imap is absent: that mail server
// is the company's own, or one it chose, and is named apart.
var subProcessorOf = map[string]subProcessor{
	"whatsapp":     {"Meta", "WhatsApp and Messenger messages"},
	"messenger":    {"Meta", "WhatsApp and Messenger messages"},
	"telnyx":       {"Telnyx", "text messages (SMS)"},
	"microsoft":    {"Microsoft", "email through Microsoft 365"},
	"stripe":       {"Stripe", "payments"},
	"shopify":      {"Shopify", "orders from the online shop"},
	"googlePlaces": {"Google", "address lookup (Google Places)"},
	"places":       {"Google", "address lookup (Google Places)"},
}

// subProcessor is a provider, named by type only.
type subProcessor struct{ Name, For string }

// subProcessors are the providers of the connected Integrations, each once,
// by name.
func (s *Server) subProcessors() []subProcessor {
	if s.Integrations == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []subProcessor
	for _, st := range s.Integrations.Statuses() {
		p, ok := subProcessorOf[st.Type]
		if !ok || seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *Server) hasIntegrationType(t string) bool {
	if s.Integrations == nil {
		return false
	}
	for _, st := range s.Integrations.Statuses() {
		if st.Type == t {
			return true
		}
	}
	return false
}

// orDefault is v, or def when v is empty: the operator's built-in default
// for a setting it did not pass.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// parsePolicyDuration reads a RetentionPolicy duration: a whole number of
// days ("30d") or hours ("48h").
func parsePolicyDuration(v string) (time.Duration, bool) {
	if len(v) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil || n < 0 || n > 99999 {
		return 0, false
	}
	switch v[len(v)-1] {
	case 'd':
		return time.Duration(n) * 24 * time.Hour, true
	case 'h':
		return time.Duration(n) * time.Hour, true
	}
	return 0, false
}

// policyWords says a RetentionPolicy duration in plain words: "30 days",
// "1 day", "48 hours"; zero says zero ("" when zero is empty), and a value
// that does not parse says "kept until deleted".
func policyWords(v, zero string) string {
	d, ok := parsePolicyDuration(v)
	if !ok {
		return "kept until deleted"
	}
	unit, n := "day", v[:len(v)-1]
	if strings.HasSuffix(v, "h") {
		unit = "hour"
	}
	if d == 0 {
		return zero
	}
	n = strings.TrimLeft(n, "0")
	if n != "1" {
		unit += "s"
	}
	return n + " " + unit
}

// privacyRequestKinds are the rights a person can ask for, as the form
// offers them.
var privacyRequestKinds = []struct{ Value, Label string }{
	{store.RequestAccess, "See the data kept about me (access)"},
	{store.RequestPortability, "Get my data in a machine-readable file (portability)"},
	{store.RequestRectification, "Correct data about me (rectification)"},
	{store.RequestErasure, "Delete my data (erasure)"},
	{store.RequestRestriction, "Stop processing my data for now (restriction)"},
	{store.RequestObjection, "Object to processing, such as marketing (objection)"},
}
