package web

import (
	"context"
	"errors"
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
	// Blocked says why no reply typed now could reach the contact, before
	// the agent types one; "" when one can. Notes are never blocked.
	Blocked string
	// Warning says why a reply typed now will not go out yet, though it is
	// kept and can be retried: the API channel has no webhook URL.
	Warning string
	// AttachFiles, AttachBytes (AttachMiB): files can go with a reply
	// (email), this many of them and this much in all; 0 on a text-only
	// channel.
	AttachFiles, AttachMiB int
	AttachBytes            int64
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
	v := composerView{Connected: info.Connected, Window: info.Window, Segmented: info.Segmented, FreeForm: info.Connected,
		AttachFiles: info.AttachFiles, AttachBytes: info.AttachBytes, AttachMiB: int(info.AttachBytes >> 20)}
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

// replyBlock is why a reply in conversation conv of contact could not be
// delivered now, or "": the channel is not connected, processing of the
// contact is restricted, the contact has no address on the channel, or the
// channel's messaging window allows no free-form reply.
func (s *Server) replyBlock(ctx context.Context, conv *store.Conversation, contact *store.Contact, v composerView) (string, error) {
	switch {
	case contact.ProcessingRestricted:
		return "processing of this contact's data is restricted.", nil
	case !v.Connected:
		return "the " + channelLabel(conv.Channel) + " channel is not connected.", nil
	}
	to, err := s.Inbox.Store.ContactIdentifier(ctx, s.Inbox.Store.Pool, contact.ID, conv.Channel)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(to) == "" {
		return "this contact has no address on " + channelLabel(conv.Channel) + ", so a reply has nowhere to go.", nil
	}
	if v.Window != nil && !v.FreeForm {
		if v.State == "templates" {
			return "the messaging window is closed: only an approved template can be sent.", nil
		}
		if v.Window.Explain != "" {
			return "the messaging window is closed: " + v.Window.Explain, nil
		}
		return "the messaging window is closed until the contact writes again.", nil
	}
	return "", nil
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

// composerError puts an empty or too long reply or note next to the box
// that holds it; other errors keep their codes.
func composerError(err error, what string) error {
	switch {
	case errors.Is(err, inbox.ErrEmpty):
		return fieldError("body", "The %s is empty: write something first.", what)
	case errors.Is(err, inbox.ErrTooLong):
		return fieldError("body", "%s", err.Error())
	case errors.Is(err, inbox.ErrAttachments):
		return fieldError("files", "%s", err.Error())
	}
	return err
}
