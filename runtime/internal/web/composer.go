package web

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// composerView is what the reply box of a conversation offers, from its
// channel's rules (inbox.Service.Composer).
type composerView struct {
	// Connected: the channel is open; replies wait in the outbox otherwise.
	Connected bool
	// Window is the channel's messaging window now, nil if it has none.
	Window *inbox.Window
	// State names the window's state for the page: "open", "tagged" (free
	// form with a message tag, Messenger's human agent), "templates"
	// (approved templates only) or "closed" (nothing until the contact
	// writes); "" for a channel without a window.
	State string
	// FreeForm: the agent may write a reply of their own now.
	FreeForm bool
	// Templates are offered when the window allows them.
	Templates []templateView
	// Segmented: the channel bills per SMS part; the page counts them live.
	Segmented bool
}

// templateView is an approved template with one input per variable.
type templateView struct {
	inbox.Template
	Vars []int // 1..Params
}

// composer builds the composer of a conversation on channel whose contact
// last wrote at lastInbound (zero if never).
func (s *Server) composer(ctx context.Context, channel string, lastInbound time.Time) composerView {
	info := s.Inbox.Composer(ctx, channel, lastInbound)
	v := composerView{Connected: info.Connected, Window: info.Window, Segmented: info.Segmented, FreeForm: info.Connected}
	if w := info.Window; w != nil {
		v.FreeForm = info.Connected && w.FreeForm
		switch {
		case w.FreeForm && w.Tag != "":
			v.State = "tagged"
		case w.FreeForm:
			v.State = "open"
		case w.Templates:
			v.State = "templates"
		default:
			v.State = "closed"
		}
		if w.Templates {
			for _, t := range info.Templates {
				tv := templateView{Template: t}
				for i := 1; i <= t.Params; i++ {
					tv.Vars = append(tv.Vars, i)
				}
				v.Templates = append(v.Templates, tv)
			}
		}
	}
	return v
}

// lastIncoming is when the contact last wrote, from a thread's messages.
func lastIncoming(msgs []*store.Message) time.Time {
	var last time.Time
	for _, m := range msgs {
		if m.Direction == "incoming" && m.CreatedAt.After(last) {
			last = m.CreatedAt
		}
	}
	return last
}

// templatePlaceholder is a template body's variable: {{1}}, {{2}}...
var templatePlaceholder = regexp.MustCompile(`\{\{\s*([0-9]+)\s*\}\}`)

// MaxTemplateParam is the longest value of one template variable, in bytes
// (WhatsApp's body limit is 1,024 characters for the whole template).
const MaxTemplateParam = 1024

// templateReply checks a template an agent chose for a conversation against
// the channel's approved templates, and fills its variables in. It returns
// the template message to send and the text the conversation shows.
func (s *Server) templateReply(ctx context.Context, conversationID int64, name, language string, params []string) (inbox.TemplateMessage, string, error) {
	if name == "" || language == "" {
		return inbox.TemplateMessage{}, "", badRequest("a template needs a name and a language")
	}
	t, err := s.Inbox.Thread(ctx, conversationID)
	if err != nil {
		return inbox.TemplateMessage{}, "", err
	}
	info := s.Inbox.Composer(ctx, t.Conversation.Channel, lastIncoming(t.Messages))
	if !info.Connected {
		return inbox.TemplateMessage{}, "", inbox.ErrNoChannel
	}
	var tmpl *inbox.Template
	for i := range info.Templates {
		if info.Templates[i].Name == name && info.Templates[i].Language == language {
			tmpl = &info.Templates[i]
			break
		}
	}
	if tmpl == nil {
		return inbox.TemplateMessage{}, "", badRequest("no approved template %q in language %q on this channel", name, language)
	}
	if len(params) != tmpl.Params {
		return inbox.TemplateMessage{}, "", badRequest("template %q takes %d variables, got %d", name, tmpl.Params, len(params))
	}
	for i, p := range params {
		p = strings.TrimSpace(p)
		if p == "" {
			return inbox.TemplateMessage{}, "", badRequest("variable %d of template %q is empty", i+1, name)
		}
		if len(p) > MaxTemplateParam {
			return inbox.TemplateMessage{}, "", badRequest("variable %d of template %q is longer than %d bytes", i+1, name, MaxTemplateParam)
		}
		params[i] = p
	}
	return inbox.TemplateMessage{Name: tmpl.Name, Language: tmpl.Language, Params: params}, fillTemplate(tmpl.Body, params), nil
}

// fillTemplate replaces {{n}} with the nth variable; a placeholder with no
// variable stays as it is.
func fillTemplate(body string, params []string) string {
	return templatePlaceholder.ReplaceAllStringFunc(body, func(m string) string {
		n, err := strconv.Atoi(templatePlaceholder.FindStringSubmatch(m)[1])
		if err != nil || n < 1 || n > len(params) {
			return m
		}
		return params[n-1]
	})
}
