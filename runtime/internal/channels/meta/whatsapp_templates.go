package meta

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/contract"
	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
)

// graphTemplate is a message template as GET /{waba-id}/message_templates
// lists it.
type graphTemplate struct {
	Name            string              `json:"name"`
	Language        string              `json:"language"`
	Status          string              `json:"status"`
	Category        string              `json:"category"`
	ParameterFormat string              `json:"parameter_format"`
	Components      []templateComponent `json:"components"`
}

type templateComponent struct {
	Type    string `json:"type"`
	Format  string `json:"format"`
	Text    string `json:"text"`
	Buttons []struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	} `json:"buttons"`
}

// maxTemplatePages bounds one sync (100 templates a page).
const maxTemplatePages = 50

// Templates implements inbox.Templated: the approved templates of the last
// successful sync.
func (w *WhatsApp) Templates(ctx context.Context) ([]inbox.Template, error) {
	w.tmu.RLock()
	defer w.tmu.RUnlock()
	if !w.synced && w.syncErr != nil {
		return nil, w.syncErr
	}
	return slices.Clone(w.templates), nil
}

// SyncTemplates reads the approved templates from the Graph API, and
// reports on the token: Connected when the call works, AuthFailed on 190.
func (w *WhatsApp) SyncTemplates(ctx context.Context) error {
	list, err := w.fetchTemplates(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.reportSyncError(err)
		}
		w.tmu.Lock()
		w.syncErr = err
		w.tmu.Unlock()
		return err
	}
	w.tmu.Lock()
	w.templates, w.synced, w.syncErr = list, true, nil
	w.tmu.Unlock()
	w.report(contract.HealthConnected, "", connectedWhatsApp)
	return nil
}

func (w *WhatsApp) reportSyncError(err error) {
	var ge *GraphError
	switch {
	case errors.As(err, &ge) && ge.Code == codeAuth:
		w.report(authFailed(ge))
	case errors.As(err, &ge) && !ge.Retryable():
		w.report(contract.HealthMisconfigured, strconv.Itoa(ge.Code),
			"Meta refused to list the templates of WhatsApp Business Account "+w.wabaID+": "+ge.Message)
	default:
		w.report(contract.HealthUnreachable, "", "the Graph API did not answer: "+err.Error())
	}
}

func (w *WhatsApp) fetchTemplates(ctx context.Context) ([]inbox.Template, error) {
	token, secret, _, ok := w.creds()
	if !ok {
		return nil, errClosed
	}
	var out []inbox.Template
	after := ""
	for range maxTemplatePages {
		q := url.Values{"fields": {"name,language,status,category,parameter_format,components"}, "limit": {"100"}}
		if after != "" {
			q.Set("after", after)
		}
		var page struct {
			Data   []graphTemplate `json:"data"`
			Paging struct {
				Cursors struct {
					After string `json:"after"`
				} `json:"cursors"`
				Next string `json:"next"`
			} `json:"paging"`
		}
		if err := w.graph.call(ctx, token, secret, http.MethodGet, w.wabaID+"/message_templates", q, nil, &page); err != nil {
			return nil, err
		}
		for _, t := range page.Data {
			if tm, ok := offerable(t); ok {
				out = append(out, tm)
			}
		}
		if page.Paging.Next == "" || page.Paging.Cursors.After == "" || page.Paging.Cursors.After == after {
			break
		}
		after = page.Paging.Cursors.After
	}
	slices.SortFunc(out, func(a, b inbox.Template) int {
		return strings.Compare(a.Name+"\x00"+a.Language, b.Name+"\x00"+b.Language)
	})
	return out, nil
}

// offerable turns an approved template the composer can fill in into an
// inbox.Template. The composer fills body variables only, so a template
// that needs any other parameter (a media or variable header, a URL or
// code button, named parameters) is left out: sending it would fail.
func offerable(t graphTemplate) (inbox.Template, bool) {
	if t.Status != "APPROVED" || t.Name == "" || t.Language == "" || strings.EqualFold(t.ParameterFormat, "NAMED") ||
		t.Category == "AUTHENTICATION" {
		return inbox.Template{}, false
	}
	tm := inbox.Template{Name: t.Name, Language: t.Language, Category: t.Category}
	for _, c := range t.Components {
		switch strings.ToUpper(c.Type) {
		case "BODY":
			n, ok := positionalParams(c.Text)
			if !ok {
				return inbox.Template{}, false
			}
			tm.Body, tm.Params = c.Text, n
		case "HEADER":
			if strings.ToUpper(c.Format) != "TEXT" || strings.Contains(c.Text, "{{") {
				return inbox.Template{}, false
			}
		case "FOOTER":
		case "BUTTONS":
			for _, b := range c.Buttons {
				switch strings.ToUpper(b.Type) {
				case "QUICK_REPLY", "PHONE_NUMBER":
				case "URL":
					if strings.Contains(b.URL, "{{") {
						return inbox.Template{}, false
					}
				default:
					return inbox.Template{}, false
				}
			}
		default:
			return inbox.Template{}, false
		}
	}
	return tm, tm.Body != ""
}

// positionalParams counts a body's variables, {{1}} to {{n}}; ok is false
// for a named variable or a gap.
func positionalParams(text string) (int, bool) {
	seen := map[int]bool{}
	hi := 0
	for {
		i := strings.Index(text, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(text[i:], "}}")
		if j < 0 {
			break
		}
		n, err := strconv.Atoi(strings.TrimSpace(text[i+2 : i+j]))
		if err != nil || n < 1 || n > 100 {
			return 0, false
		}
		seen[n] = true
		hi = max(hi, n)
		text = text[i+j+2:]
	}
	if len(seen) != hi {
		return 0, false
	}
	return hi, true
}
