package sms

import (
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/switchboard-dev/switchboard/runtime/internal/channels/sms/smstest"
)

func TestCountTable(t *testing.T) {
	cases := smstest.Cases()
	if len(cases) < 20 {
		t.Fatalf("only %d cases loaded", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			got := Count(c.Text)
			want := Info{Parts: c.Parts, Encoding: c.Encoding, Units: c.Units}
			if got != want {
				t.Fatalf("Count(%q) = %+v, want %+v", abbrev(c.Text), got, want)
			}
		})
	}
}

func TestInvalidUTF8IsUCS2(t *testing.T) {
	if got := Count("ok \xff"); got != (Info{Parts: 1, Encoding: UCS2, Units: 4}) {
		t.Fatalf("got %+v", got)
	}
}

// TestPartsFitTheirLimits checks the split against an independent
// construction: actually cutting the text into parts and measuring each.
func TestPartsFitTheirLimits(t *testing.T) {
	texts := []string{strings.Repeat("ab€", 200), strings.Repeat("x😀", 150), strings.Repeat("€", 1000), strings.Repeat("ж", 1000)}
	for _, text := range texts {
		info := Count(text)
		parts := split(text, info.Encoding)
		if len(parts) != info.Parts {
			t.Fatalf("%s: Count says %d parts, split made %d", abbrev(text), info.Parts, len(parts))
		}
		if strings.Join(parts, "") != text {
			t.Fatal("split lost characters")
		}
		for _, p := range parts {
			if n := measure(p, info.Encoding); n > map[string]int{GSM7: GSM7Multi, UCS2: UCS2Multi}[info.Encoding] {
				t.Fatalf("a part of %d units", n)
			}
		}
	}
}

// split cuts text at character boundaries into maximal parts.
func split(text, enc string) []string {
	limit := GSM7Multi
	if enc == UCS2 {
		limit = UCS2Multi
	}
	var parts []string
	var cur []rune
	for _, r := range text {
		if measure(string(append(cur, r)), enc) > limit {
			parts = append(parts, string(cur))
			cur = nil
		}
		cur = append(cur, r)
	}
	return append(parts, string(cur))
}

func measure(s, enc string) int {
	if enc == UCS2 {
		return len(utf16.Encode([]rune(s)))
	}
	n := 0
	for _, r := range s {
		n++
		if strings.ContainsRune(gsmExtension, r) {
			n++
		}
	}
	return n
}

func abbrev(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func FuzzCount(f *testing.F) {
	f.Add("hello €")
	f.Add("😀ж")
	f.Fuzz(func(t *testing.T, s string) {
		info := Count(s)
		if (info.Units == 0) != (info.Parts == 0) {
			t.Fatalf("%+v", info)
		}
		if info.Encoding == GSM7 && !IsGSM7(s) {
			t.Fatal("GSM-7 claimed for non-GSM text")
		}
	})
}
