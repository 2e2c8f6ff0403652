package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
	"github.com/switchboard-dev/switchboard/runtime/internal/integrations"
)

//go:embed templates/*.html templates/partials/*.html
var templateFS embed.FS

type templates struct {
	pages  map[string]*template.Template
	assets map[string]string // static path -> content hash, for cache busting
}

var funcs = template.FuncMap{
	"ago": func(t time.Time) string {
		d := time.Since(t)
		switch {
		case d < time.Minute:
			return "just now"
		case d < time.Hour:
			return fmt.Sprintf("%dm", int(d.Minutes()))
		case d < 24*time.Hour:
			return fmt.Sprintf("%dh", int(d.Hours()))
		}
		return t.Format("2 Jan")
	},
	// localtime and localinput show a time in the member's zone: pages
	// have it as .Loc ({{localtime $.Loc .At}}); see timezone.go.
	"localtime":  localtime,
	"localinput": localinput,
	"join":       strings.Join,
	"initials":   initials,
	"deref": func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	},
	"derefs": func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	},
	"eq64":          func(a *int64, b int64) bool { return a != nil && *a == b },
	"money":         formatMoney,
	"dealValue":     dealValue,
	"amount":        formatAmount,
	"channelLabel":  channelLabel,
	"fold":          foldQuoted,    // an email's quoted history, folded (quoted.go)
	"snoozeChoices": snoozeChoices, // the sidebar's snooze presets in the member's zone
}

// initials are the first letters of a name's first and last words, words
// that do not start with a letter left out: "Priya Shah (updated)" is "PS".
// A name without such a word shows its first letter or digit ("+4930..." is
// "4"), or "?".
func initials(name string) string {
	var f [][]rune
	for _, w := range strings.Fields(name) {
		if r := []rune(w); unicode.IsLetter(r[0]) {
			f = append(f, r)
		}
	}
	switch len(f) {
	case 0:
		if i := strings.IndexFunc(name, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }); i >= 0 {
			r, _ := utf8.DecodeRuneInString(name[i:])
			return strings.ToUpper(string(r))
		}
		return "?"
	case 1:
		return strings.ToUpper(string(f[0][:1]))
	}
	return strings.ToUpper(string(f[0][:1]) + string(f[len(f)-1][:1]))
}

func parseTemplates() (*templates, error) {
	t := &templates{pages: map[string]*template.Template{}, assets: map[string]string{}}
	err := fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		t.assets[strings.TrimPrefix(path, "static/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, err
	}
	f := template.FuncMap{"asset": func(name string) string {
		return "/static/" + name + "?v=" + t.assets[name]
	}}
	for k, v := range funcs {
		f[k] = v
	}
	entries, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := strings.TrimSuffix(strings.TrimPrefix(e, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		// Every page is the layout, the shared partials, and its own file.
		tp, err := template.New(name).Funcs(f).ParseFS(templateFS, "templates/layout.html", "templates/partials/*.html", e)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		t.pages[name] = tp
	}
	return t, nil
}

// render writes a page. data is merged with what every page needs. A
// request from htmx asking for a fragment ("HX-Target" or ?fragment=) gets
// the template's block of that name only.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, data map[string]any) {
	tp, ok := s.tmpl.pages[name]
	if !ok {
		http.Error(w, "no template "+name, http.StatusInternalServerError)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["User"] = currentUser(r)
	if se := currentSession(r); se != nil {
		data["CSRF"] = se.csrf
	}
	data["Workspace"] = s.Workspace
	data["DisplayName"] = s.DisplayName
	data["Path"] = r.URL.Path
	data["Loc"] = s.location(r)
	if u := currentUser(r); u != nil && s.Integrations != nil && auth.Role(u.Role).AtLeast(auth.Admin) {
		// Tenant admins see every integration that needs them, on every
		// page: an inbox never disconnects silently.
		var problems []integrations.Status
		for _, st := range s.Integrations.Statuses() {
			if !st.Healthy() {
				problems = append(problems, st)
			}
		}
		data["IntegrationProblems"] = problems
	}
	block := "layout"
	if frag := r.URL.Query().Get("fragment"); frag != "" && tp.Lookup(frag) != nil {
		block = frag
	}
	if block == "layout" && r.Method == http.MethodGet {
		// A whole page shows the notice the member's last action left, once.
		if n := s.takeNotice(r); n != nil {
			data["Notice"] = n
		}
	}
	if block == "layout" {
		s.bellData(r, data)           // the top bar's notifications
		s.requestsBannerData(r, data) // admins: overdue rights requests
	}
	var buf bytes.Buffer
	if err := tp.ExecuteTemplate(&buf, block, data); err != nil {
		s.Log.Error("rendering failed", "template", name, "error", err.Error())
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if w.Header().Get("Cache-Control") == "" { // a public page may allow caching (privacyPage)
		w.Header().Set("Cache-Control", "no-store")
	}
	_, _ = buf.WriteTo(w)
}
