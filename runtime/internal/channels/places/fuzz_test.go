package places

import (
	"strings"
	"testing"
)

func FuzzParseAutocomplete(f *testing.F) {
	f.Add([]byte(`{"suggestions":[{"placePrediction":{"place":"places/ChIJ1","placeId":"ChIJ1","text":{"text":"221B Baker Street, London","matches":[{"endOffset":5}]},"structuredFormat":{"mainText":{"text":"221B Baker Street"},"secondaryText":{"text":"London"}},"types":["street_address"]}},{"queryPrediction":{"text":{"text":"pizza"}}}]}`))
	f.Add([]byte(`{"suggestions":[{"placePrediction":{"place":"places/../x"}}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"suggestions":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := ParseAutocomplete(b)
		if err != nil {
			return
		}
		for _, s := range out {
			if !ValidPlaceID(s.PlaceID) {
				t.Fatalf("a suggestion with place id %q", s.PlaceID)
			}
		}
	})
}

func FuzzParseDetails(f *testing.F) {
	f.Add([]byte(`{"id":"ChIJ1","formattedAddress":"221B Baker Street, London NW1 6XE, UK"}`))
	f.Add([]byte(`{"formattedAddress":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseDetails(b)
		if err == nil && (p == nil || p.Address == "") {
			t.Fatalf("no error and no address: %+v", p)
		}
	})
}

func FuzzParseError(f *testing.F) {
	f.Add([]byte(`{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`))
	f.Add([]byte(`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}`))
	f.Add([]byte(`{"error":"nope"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok := ParseError(b)
		if ok && e.Status == "" {
			t.Fatal("ok without a status")
		}
		if !ok && (e.Status != "" || e.Reason != "") {
			t.Fatal("not ok with fields")
		}
	})
}

func TestValidSession(t *testing.T) {
	for s, want := range map[string]bool{
		"3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b": true,
		"3F2B8C1E-9A4D-4E6F-8B2A-1C3D5E7F9A0B": true,
		"3f2b8c1e9a4d4e6f8b2a1c3d5e7f9a0b":     false,
		"":                                     false,
		strings.Repeat("a", 36):                false,
	} {
		if ValidSession(s) != want {
			t.Errorf("ValidSession(%q) = %v", s, !want)
		}
	}
}
