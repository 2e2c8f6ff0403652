package inbox

import (
	"context"
	"time"
)

// Windowed is a channel that limits when free-form replies may go (WhatsApp
// 24 h, Messenger 24 h then 7 days with a human-agent tag).
type Windowed interface {
	Channel
	// ReplyWindow says what may be sent now, given when the contact last
	// wrote (zero if never).
	ReplyWindow(lastInbound, now time.Time) Window
}

// Window is what a channel allows at one moment.
type Window struct {
	// FreeForm: an agent may write anything.
	FreeForm bool
	// Templates: approved templates may be sent (see Templated).
	Templates bool
	// Tag is the message tag free-form replies need now ("HUMAN_AGENT"), or "".
	Tag string
	// ClosesAt is when the current allowance ends (zero: it does not).
	ClosesAt time.Time
	// Explain says, for the agent, what the rule is and what to do.
	Explain string
}

// Templated is a channel with approved message templates.
type Templated interface {
	Channel
	// Templates lists the approved templates, as last synced from the provider.
	Templates(ctx context.Context) ([]Template, error)
}

// Template is an approved template as the composer offers it.
type Template struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Category string `json:"category"`
	// Body is the template's body text with {{1}}, {{2}}... placeholders.
	Body string `json:"body"`
	// Params is the number of body variables.
	Params int `json:"params"`
}

// Segmented is a channel that bills per segment (SMS).
type Segmented interface {
	Channel
	// Segments says how many parts body is sent as, and in which encoding.
	Segments(body string) (parts int, encoding string)
}

// ComposerInfo is what the composer shows for a conversation's channel.
type ComposerInfo struct {
	Connected bool
	Window    *Window
	Templates []Template
	Segmented bool
	// AttachFiles and AttachBytes are the channel's AttachmentLimits; 0 for
	// a channel whose replies are text only.
	AttachFiles int
	AttachBytes int64
}

// Composer returns what the composer of a conversation on channel should
// offer, given when the contact last wrote.
func (s *Service) Composer(ctx context.Context, channel string, lastInbound time.Time) ComposerInfo {
	ch, ok := s.Channel(channel)
	if !ok {
		return ComposerInfo{}
	}
	info := ComposerInfo{Connected: true}
	if w, ok := ch.(Windowed); ok {
		win := w.ReplyWindow(lastInbound, s.now())
		info.Window = &win
	}
	if t, ok := ch.(Templated); ok {
		info.Templates, _ = t.Templates(ctx)
	}
	_, info.Segmented = ch.(Segmented)
	if a, ok := ch.(AttachmentSender); ok {
		info.AttachFiles, info.AttachBytes = a.AttachmentLimits()
	}
	return info
}
