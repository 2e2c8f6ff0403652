package receipts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCanonicalize(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{name: "sorts keys and drops whitespace", in: `{ "b": 1, "a": [true, false, null], "A": {} }`, want: `{"A":{},"a":[true,false,null],"b":1}`},
		{name: "sorts nested keys", in: `{"z":{"y":1,"x":2}}`, want: `{"z":{"x":2,"y":1}}`},
		{name: "keys sort by UTF-8 bytes", in: `{"é":1,"z":2,"Z":3}`, want: `{"Z":3,"z":2,"é":1}`},
		{name: "escapes only quote, backslash and controls", in: `"a\"b\\c\/d<&>\u0001\n\u007f\u2028é"`, want: "\"a\\\"b\\\\c/d<&>\\u0001\\n\x7f\u2028é\""},
		{name: "short escapes", in: `"\b\t\n\f\r\u001f"`, want: `"\b\t\n\f\r\u001f"`},
		{name: "unescapes what needs no escape", in: `"\u0041\u00e9"`, want: `"Aé"`},
		{name: "integers", in: `[0,-1,9007199254740991,-9007199254740991]`, want: `[0,-1,9007199254740991,-9007199254740991]`},
		{name: "fraction", in: `1.5`, err: "not an integer"},
		{name: "integral fraction", in: `1.0`, err: "not an integer"},
		{name: "exponent", in: `1e2`, err: "not an integer"},
		{name: "negative zero", in: `-0`, err: "not an integer"},
		{name: "beyond 2^53", in: `9007199254740992`, err: "outside"},
		{name: "duplicate key", in: `{"a":1,"a":2}`, err: "duplicate key"},
		{name: "trailing data", in: `{} {}`, err: "after the JSON value"},
		{name: "invalid UTF-8", in: "\"\xff\"", err: "UTF-8"},
		{name: "truncated", in: `{"a":`, err: "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Canonicalize(%s) = %s, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("Canonicalize(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestNewDraft(t *testing.T) {
	type purge struct {
		Backup  string    `json:"backup"`
		Size    int64     `json:"size"`
		Checks  []string  `json:"checks"`
		Purged  time.Time `json:"purgedAt"`
		Ratio   float64   `json:"ratio,omitempty"`
		Contact string    `json:"contact,omitempty"`
	}
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name                  string
		kind, ws, object, key string
		details               any
		want, err             string
		personal              bool
	}{
		{name: "struct", kind: KindBackupPurged, ws: "acme", object: "Backup/acme-1", details: purge{Backup: "acme-1", Size: 42, Checks: []string{"HEAD x: NotFound"}, Purged: at},
			want: `{"backup":"acme-1","checks":["HEAD x: NotFound"],"purgedAt":"2024-05-01T12:00:00Z","size":42}`},
		{name: "nil details", kind: KindRetentionRun, want: `{}`},
		{name: "map", kind: KindRetentionRun, details: map[string]int{"messages": 3, "contacts": 1}, want: `{"contacts":1,"messages":3}`},
		{name: "an integral float is an integer", kind: KindRetentionRun, details: purge{Ratio: 2}, want: `{"backup":"","checks":null,"purgedAt":"0001-01-01T00:00:00Z","ratio":2,"size":0}`},
		{name: "a fraction is refused", kind: KindRetentionRun, details: purge{Ratio: 0.5}, err: "not an integer"},
		{name: "details must be an object", kind: KindRetentionRun, details: []int{1}, err: "must be a JSON object"},
		{name: "kind is dotted lower case", kind: "Purged", err: "kind"},
		{name: "an email in details", kind: KindBackupPurged, details: purge{Contact: "jane@example.com"}, personal: true, err: "details.contact"},
		{name: "an email in a list", kind: KindBackupPurged, details: purge{Checks: []string{"ok", "mailed ops@example.com"}}, personal: true, err: "details.checks[1]"},
		{name: "an email as a key", kind: KindBackupPurged, details: map[string]int{"jane@example.com": 1}, personal: true, err: "details key"},
		{name: "an email as the object", kind: KindBackupPurged, object: "Contact/jane@example.com", personal: true, err: "object"},
		{name: "an email in the key", kind: KindBackupPurged, key: "x/jane@example.com", personal: true, err: "idempotency key"},
		{name: "a long object", kind: KindBackupPurged, object: strings.Repeat("x", 300), err: "longer than"},
		{name: "a newline in details", kind: KindBackupPurged, details: purge{Checks: []string{"a\nb"}}, err: "details.checks[0] holds a control character"},
		{name: "DEL in a key", kind: KindBackupPurged, details: map[string]int{"a\x7f": 1}, err: "details key holds a control character"},
		{name: "a tab in the object", kind: KindBackupPurged, object: "Backup/a\tb", err: "object holds a control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := newDraft(tc.key, tc.kind, tc.ws, "uid-1", tc.object, tc.details)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || errors.Is(err, ErrPersonalData) != tc.personal {
					t.Fatalf("newDraft = %v; want an error with %q (personal data: %v)", err, tc.err, tc.personal)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			canonical(&buf, d.details)
			if buf.String() != tc.want {
				t.Fatalf("details = %s; want %s", buf.String(), tc.want)
			}
		})
	}
}

// TestSealedEntryVerifiesByTheDocumentedRecipe recomputes a hash the way
// docs/receipts.md tells an auditor to: drop "hash", sort keys, no
// whitespace, SHA-256.
func TestSealedEntryVerifiesByTheDocumentedRecipe(t *testing.T) {
	d, err := newDraft("backup.purged/1234", KindBackupPurged, "acme", "6f1c", "Backup/acme-1",
		map[string]any{"store": "s3://bucket/prefix", "existed": true, "size": 1024, "note": "quote \", backslash \\, <&> and é"})
	if err != nil {
		t.Fatal(err)
	}
	e, stored, err := d.seal(7, strings.Repeat("ab", 32), time.Date(2024, 5, 1, 12, 0, 0, 120_000_000, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"details":{"existed":true,"note":"quote \", backslash \\, <&> and é","size":1024,"store":"s3://bucket/prefix"},` +
		`"hash":"` + e.Hash + `","key":"backup.purged/1234","kind":"backup.purged","object":"Backup/acme-1",` +
		`"prev":"` + strings.Repeat("ab", 32) + `","seq":7,"time":"2024-05-01T12:00:00.12Z","workspace":"acme","workspaceUID":"6f1c"}`
	if string(stored) != want {
		t.Fatalf("stored\n%s\nwant\n%s", stored, want)
	}
	without := strings.Replace(want, `"hash":"`+e.Hash+`",`, "", 1)
	sum := sha256.Sum256([]byte(without))
	if hex.EncodeToString(sum[:]) != e.Hash {
		t.Fatalf("hash %s is not the SHA-256 of %s", e.Hash, without)
	}
	var back Entry
	if err := json.Unmarshal(stored, &back); err != nil {
		t.Fatal(err)
	}
	if back.Seq != 7 || back.Hash != e.Hash || string(back.Details) != string(e.Details) || !back.Time.Equal(e.Time) {
		t.Fatalf("decoded %+v; sealed %+v", back, e)
	}
	c, err := check(stored)
	if err != nil || c.computed != e.Hash {
		t.Fatalf("check = %+v, %v", c, err)
	}
}

// FuzzCanonicalize checks, for any input, that the canonical form is valid
// JSON and a fixed point: the hash of a stored entry must not depend on
// how many times it went through the encoder.
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":"x"}`, `[1,-2,"\u0001é"]`, `{"a":{"b":[null,true]}}`, `"\ud800"`, `1e3`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Canonicalize(data)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("canonical form %q of %q is not JSON", out, data)
		}
		again, err := Canonicalize(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("canonical form %q of %q canonicalizes to %q, %v", out, data, again, err)
		}
	})
}
