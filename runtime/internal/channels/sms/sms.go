// Package sms counts the parts (segments) an SMS is sent as, the way
// carriers and Telnyx count them: carriers bill per part, so the composer
// shows the count before an agent sends.
//
// Text entirely in the GSM 03.38 default alphabet is sent as GSM-7: 160
// septets in a single part, 153 per part once split (the rest of each part
// is the concatenation header). Characters of the extension table take an
// escape septet and so count twice, and a split never separates the escape
// from its character. Any other character makes the whole text UCS-2: 70
// UTF-16 code units in a single part, 67 per part once split; a character
// outside the Basic Multilingual Plane (most emoji) is a surrogate pair,
// counts twice and is never split across parts.
//
// static/sms.js in package web is the same algorithm for the browser; the
// tests of both run the table in package smstest.
package sms

import "unicode/utf8"

// Encodings, as Telnyx names them in its send response.
const (
	GSM7 = "GSM-7"
	UCS2 = "UCS-2"
)

// Part sizes, in septets (GSM-7) or UTF-16 code units (UCS-2).
const (
	GSM7Single = 160
	GSM7Multi  = 153
	UCS2Single = 70
	UCS2Multi  = 67
)

// gsmBasic is the GSM 03.38 default alphabet (one septet each).
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsmExtension is the extension table (an escape septet plus one each).
// Form feed is in the table too, though no one types it.
const gsmExtension = "^{}\\[~]|€\f"

var basic, extension = runeSet(gsmBasic), runeSet(gsmExtension)

func runeSet(s string) map[rune]bool {
	m := make(map[rune]bool, utf8.RuneCountInString(s))
	for _, r := range s {
		m[r] = true
	}
	return m
}

// Info is how a text is sent.
type Info struct {
	// Parts is the number of messages billed; 0 for an empty text.
	Parts int `json:"parts"`
	// Encoding is GSM7 or UCS2.
	Encoding string `json:"encoding"`
	// Units is the text's length in septets (GSM-7) or UTF-16 code units
	// (UCS-2).
	Units int `json:"units"`
}

// IsGSM7 says whether every character of text is in the GSM-7 alphabet.
func IsGSM7(text string) bool {
	for _, r := range text { // invalid UTF-8 is U+FFFD: not GSM-7
		if !basic[r] && !extension[r] {
			return false
		}
	}
	return true
}

// Count says how text is sent: its encoding, length and number of parts.
// Invalid UTF-8 counts as U+FFFD, which is what reaches the provider.
func Count(text string) Info {
	gsm := IsGSM7(text)
	weight, single, multi := ucs2Weight, UCS2Single, UCS2Multi
	info := Info{Encoding: UCS2}
	if gsm {
		weight, single, multi = gsmWeight, GSM7Single, GSM7Multi
		info.Encoding = GSM7
	}
	for _, r := range text {
		info.Units += weight(r)
	}
	switch {
	case info.Units == 0:
		return info
	case info.Units <= single:
		info.Parts = 1
		return info
	}
	// Split: fill each part greedily, never cutting a character's units.
	info.Parts = 1
	used := 0
	for _, r := range text {
		w := weight(r)
		if used+w > multi {
			info.Parts++
			used = 0
		}
		used += w
	}
	return info
}

func gsmWeight(r rune) int {
	if extension[r] {
		return 2
	}
	return 1
}

func ucs2Weight(r rune) int {
	if r > 0xFFFF {
		return 2
	}
	return 1
}
