package email

import (
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// sanitizer is bluemonday's policy for user content: no scripts, styles,
// event handlers, forms or frames, and only safe URL schemes. Elements
// whose content is code (script, style) go with their content.
var sanitizer = bluemonday.UGCPolicy()

// HTMLToText renders an HTML mail as the plain text the inbox stores. The
// HTML is sanitised first (bluemonday's UGC policy); the text keeps
// paragraphs and line breaks, lists as "- " items, link targets after
// their text, and images only as their alt text: nothing remote is
// fetched, and no markup survives.
func HTMLToText(src string) string {
	clean := sanitizer.Sanitize(src)
	z := html.NewTokenizer(strings.NewReader(clean))
	var b strings.Builder
	pre := 0
	var href []string // targets of the open links
	var linkText []int
	newline := func(n int) {
		s := b.String()
		have := len(s) - len(strings.TrimRight(s, "\n"))
		if len(s) == 0 {
			return
		}
		for ; have < n; have++ {
			b.WriteByte('\n')
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return strings.TrimSpace(b.String())
		case html.TextToken:
			t := string(z.Text())
			if pre == 0 {
				t = collapseSpace(t, endsInSpace(b.String()))
			}
			b.WriteString(t)
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			end := tt == html.EndTagToken
			attrs := map[string]string{}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				attrs[string(k)] = string(v)
			}
			switch a {
			case atom.Br:
				b.WriteByte('\n')
			case atom.P, atom.Div, atom.Blockquote, atom.Table, atom.Ul, atom.Ol, atom.H1, atom.H2, atom.H3,
				atom.H4, atom.H5, atom.H6, atom.Hr, atom.Section, atom.Article, atom.Header, atom.Footer:
				newline(2)
			case atom.Tr, atom.Dt, atom.Dd:
				newline(1)
			case atom.Td, atom.Th:
				if !end && !endsInSpace(b.String()) {
					b.WriteByte(' ')
				}
			case atom.Li:
				if !end {
					newline(1)
					b.WriteString("- ")
				}
			case atom.Pre:
				newline(2)
				if end {
					pre = max(0, pre-1)
				} else if tt == html.StartTagToken {
					pre++
				}
			case atom.Img:
				if alt := strings.TrimSpace(attrs["alt"]); alt != "" {
					b.WriteString("[" + collapseSpace(alt, true) + "]")
				}
			case atom.A:
				if tt == html.StartTagToken {
					href = append(href, attrs["href"])
					linkText = append(linkText, b.Len())
				} else if end && len(href) > 0 {
					target := href[len(href)-1]
					text := strings.TrimSpace(b.String()[linkText[len(linkText)-1]:])
					href, linkText = href[:len(href)-1], linkText[:len(linkText)-1]
					if target != "" && target != text && strings.TrimPrefix(target, "mailto:") != text &&
						(strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "mailto:")) {
						b.WriteString(" (" + target + ")")
					}
				}
			}
		}
	}
}

func endsInSpace(s string) bool {
	return s == "" || strings.HasSuffix(s, " ") || strings.HasSuffix(s, "\n")
}

// collapseSpace applies HTML's whitespace rule to a text run: any run of
// spaces is one space, dropped at the start when the text before ends in
// one.
func collapseSpace(t string, afterSpace bool) string {
	var b strings.Builder
	space := afterSpace
	for _, r := range t {
		switch r {
		case ' ', '\t', '\n', '\r', '\f', '\u00a0':
			if !space {
				b.WriteByte(' ')
				space = true
			}
		default:
			b.WriteRune(r)
			space = false
		}
	}
	return b.String()
}
