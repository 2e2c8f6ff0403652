package web

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseInbound feeds arbitrary bodies to the inbound API's parser: it
// must never panic, and whatever it accepts must satisfy the documented limits.
func FuzzParseInbound(f *testing.F) {
	f.Add([]byte(`{"contact":{"identifier":"+15550100","name":"Ada"},"messageId":"m-1","text":"hello"}`))
	f.Add([]byte(`{"contact":{"identifier":"a@b.example"},"messageId":"x","attachments":[{"filename":"a.txt","data":"aGk="}]}`))
	f.Add([]byte(`{"contact":{"identifier":"a"},"messageId":"x","text":"a"} {}`))
	f.Add([]byte(`{"contact":{"identifier":1}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := ParseInbound(body)
		if err != nil {
			if he, ok := err.(*httpError); !ok || he.status != 400 {
				t.Fatalf("error is not a 400: %v", err)
			}
			return
		}
		if in.Identifier == "" || len(in.Identifier) > 256 || in.ExternalID == "" || len(in.ExternalID) > 256 {
			t.Fatalf("accepted bad ids: %+v", in)
		}
		if !utf8.ValidString(in.Body) || len(in.Body) > 64<<10 || (strings.TrimSpace(in.Body) == "" && len(in.Attachments) == 0) {
			t.Fatalf("accepted a bad body")
		}
		for _, a := range in.Attachments {
			if a.Filename == "" || strings.ContainsAny(a.Filename, "/\\\x00") || int64(len(a.Data)) != a.Size {
				t.Fatalf("accepted a bad attachment: %+v", a)
			}
		}
	})
}
