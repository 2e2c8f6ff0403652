// Package smstest holds the SMS segment cases that package sms (Go) and the
// composer's static/sms.js (browser) must both agree with.
package smstest

import (
	_ "embed"
	"encoding/json"
	"strings"
)

//go:embed cases.json
var casesJSON []byte

// Case is a text with how it must be counted.
type Case struct {
	Name string
	// Text is built from pieces (a string repeated n times) so that long
	// texts stay readable in cases.json.
	Text     string
	Parts    int
	Encoding string
	Units    int
}

// Cases returns the table.
func Cases() []Case {
	var raw []struct {
		Name     string  `json:"name"`
		Pieces   [][]any `json:"pieces"` // [text, times]
		Parts    int     `json:"parts"`
		Encoding string  `json:"encoding"`
		Units    int     `json:"units"`
	}
	if err := json.Unmarshal(casesJSON, &raw); err != nil {
		panic("smstest: cases.json: " + err.Error())
	}
	out := make([]Case, 0, len(raw))
	for _, r := range raw {
		var b strings.Builder
		for _, p := range r.Pieces {
			s, _ := p[0].(string)
			n, _ := p[1].(float64)
			b.WriteString(strings.Repeat(s, int(n)))
		}
		out = append(out, Case{Name: r.Name, Text: b.String(), Parts: r.Parts, Encoding: r.Encoding, Units: r.Units})
	}
	return out
}
