package web

import (
	"regexp"
	"strings"
)

// foldedBody is a message's text split for display: what its sender wrote,
// and the quoted history their mail client put below it (shown folded).
type foldedBody struct {
	Text, Quoted string
}

// Where a mail client's quoted history starts:
var (
	// an attribution line, "On Tue, 3 Mar 2026 at 10:02, Alice <a@x> wrote:"
	// (and its French, German, Spanish, Italian, Dutch and Portuguese
	// forms), which may be wrapped over two lines;
	attribution = regexp.MustCompile(`(?i)^(on|le|am|el|il|op|em)\s.{4,300}\s(wrote|a écrit|schrieb|escribió|ha scritto|schreef|escreveu)\s*:\s*$`)
	// Outlook's separator;
	originalMessage = regexp.MustCompile(`(?i)^-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original)\s*-{2,}\s*$`)
	// Outlook's header block: From:, then Sent: or Date:, then To: or
	// Subject: within a few lines.
	headerFrom = regexp.MustCompile(`(?i)^\*?(from|von|de)\s*:\*?\s+\S`)
	headerSent = regexp.MustCompile(`(?i)^\*?(sent|date|gesendet|envoyé|enviado)\s*:\*?\s+\S`)
	headerTo   = regexp.MustCompile(`(?i)^\*?(to|subject|an|betreff|à|objet|para|asunto)\s*:\*?\s+\S`)
)

// foldQuoted splits an incoming email's text at the start of its quoted
// history. Other messages, and mail where nothing precedes the history (it
// would fold everything away), are left whole.
func foldQuoted(channel, direction, body string) foldedBody {
	if direction != "incoming" || !(strings.HasPrefix(channel, "imap/") || strings.HasPrefix(channel, "microsoft/")) {
		return foldedBody{Text: body}
	}
	lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	at := quoteStart(lines)
	if at < 0 {
		return foldedBody{Text: body}
	}
	text := strings.TrimRight(strings.Join(lines[:at], "\n"), " \t\n")
	if strings.TrimSpace(text) == "" {
		return foldedBody{Text: body}
	}
	return foldedBody{Text: text, Quoted: strings.TrimRight(strings.Join(lines[at:], "\n"), " \t\n")}
}

// quoteStart is the index of the line where the quoted history starts, or
// -1.
func quoteStart(lines []string) int {
	trimmed := make([]string, len(lines))
	for i, l := range lines {
		trimmed[i] = strings.TrimSpace(l)
	}
	// quotedFrom says every non-blank line after i is quoted, and there is
	// one: an answer written between quoted lines (inline replies) is not
	// folded away.
	quotedFrom := func(i int) bool {
		any := false
		for j := i + 1; j < len(trimmed); j++ {
			if trimmed[j] == "" {
				continue
			}
			if !strings.HasPrefix(trimmed[j], ">") {
				return false
			}
			any = true
		}
		return any
	}
	for i, l := range trimmed {
		switch {
		case attribution.MatchString(l) && quotedFrom(i):
			return i
		case i+1 < len(trimmed) && attribution.MatchString(l+" "+trimmed[i+1]) && quotedFrom(i+1):
			return i
		case originalMessage.MatchString(l):
			return i
		case headerFrom.MatchString(l) && (i == 0 || trimmed[i-1] == "" || strings.Trim(trimmed[i-1], "_-") == "") && outlookHeader(trimmed[i+1:]):
			if i > 0 && trimmed[i-1] != "" {
				return i - 1 // the ____ rule above it
			}
			return i
		}
	}
	// A trailing run of "> " lines (blank lines allowed) with no
	// attribution.
	start := -1
	for i := len(trimmed) - 1; i >= 0; i-- {
		switch {
		case strings.HasPrefix(trimmed[i], ">"):
			start = i
		case trimmed[i] == "":
		default:
			return start
		}
	}
	return start
}

// outlookHeader says whether the lines after a From: line continue an
// Outlook header block: a Sent: or Date: line and a To: or Subject: line
// within the next four lines.
func outlookHeader(next []string) bool {
	sent, to := false, false
	for i := 0; i < len(next) && i < 4; i++ {
		sent = sent || headerSent.MatchString(next[i])
		to = to || headerTo.MatchString(next[i])
	}
	return sent && to
}
