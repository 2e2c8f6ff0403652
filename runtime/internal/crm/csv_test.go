package crm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

func TestParseContactsCSV(t *testing.T) {
	in := "\uFEFFName,E-mail,phones,company,tags,plan,\n" + // BOM, spelled variants, a custom column, an unnamed one
		"Ada, Ada@X.example ,+44 20 7946 0000,Acme,vip;speaker,pro,ignored\n" + // 2
		"Bob,bob-at-x,,,,,\n" + // 3
		",,,,,,\n" + // 4: blank, skipped
		"Carl,carl@x.example;nope,12345,,big fish,,\n" + // 5
		",,,Acme,,gold,\n" + // 6
		"\"Dora\nSmith\",dora@x.example,,,,,\n" + // 7-8
		"Eve,eve@x.example\n" + // 9
		"Gus,,'+358 40 123 4567,,,'=1+1,\n" + // 10: guarded cells, as an export writes them
		"Hal,hal@x.example,,,,,,\n" + // 11: one field too many
		"Fay,\"fay@x.example,,,,,\n" // 12: the quote never closes
	p, err := ParseContactsCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	wantErrs := []RowError{
		{3, "E-mail", "is not an email address"},
		{5, "E-mail", "entry 2 is not an email address"},
		{5, "phones", "is not a phone number in international form (+ and 6 to 15 digits)"},
		{5, "tags", "is not a tag of 1 to 64 characters without spaces or commas"},
		{6, "", "needs a name, an email or a phone"},
		{7, "Name", "contains line breaks or control characters"},
		{9, "", "has 2 fields where the header has 7"},
		{11, "", "has 8 fields where the header has 7"},
		{12, "", "is not valid CSV: extraneous or missing \" in quoted-field"},
	}
	if fmt.Sprint(p.Errors) != fmt.Sprint(wantErrs) {
		t.Errorf("errors:\n got %v\nwant %v", p.Errors, wantErrs)
	}
	if len(p.Rows) != 2 {
		t.Fatalf("rows = %+v", p.Rows)
	}
	ada := p.Rows[0]
	if ada.Line != 2 || ada.Name != "Ada" || fmt.Sprint(ada.Emails) != "[ada@x.example]" || fmt.Sprint(ada.Phones) != "[+442079460000]" ||
		ada.Company != "Acme" || fmt.Sprint(ada.Tags) != "[vip speaker]" || fmt.Sprint(ada.Custom) != "map[plan:pro]" {
		t.Errorf("ada = %+v", ada)
	}
	gus := p.Rows[1]
	if gus.Line != 10 || fmt.Sprint(gus.Phones) != "[+358401234567]" || gus.Custom["plan"] != "=1+1" {
		t.Errorf("gus = %+v", gus)
	}
	if p.EmailColumn != "E-mail" || p.PhoneColumn != "phones" {
		t.Errorf("columns %q %q", p.EmailColumn, p.PhoneColumn)
	}
	// Errors name the line and column, never the values.
	for _, e := range p.Errors {
		for _, v := range []string{"bob-at-x", "nope", "12345", "big fish", "Dora", "eve@", "hal@", "fay@"} {
			if strings.Contains(e.Message, v) {
				t.Errorf("error %+v shows the row's data", e)
			}
		}
	}
}

func TestParseContactsCSVFileErrors(t *testing.T) {
	tooMany := "name\n" + strings.Repeat("a\n", MaxImportRows+1)
	tests := []struct {
		name string
		in   string
		want string // in the error; "" for no error
	}{
		{"empty", "", "the file is empty"},
		{"binary", "name,email\nA,\x00\x01\x02", "NUL bytes"},
		{"no header", "Ada,ada@x.example\nBob,bob@x.example", "must name the columns"},
		{"repeated column", "name,email,E-Mail\n", "column 3 repeats column 2"},
		{"repeated custom column", "name,plan,plan\n", "column 3 repeats column 2"},
		{"broken header", "\"name,email\n", "header row is not valid CSV"},
		{"too large", "name\n" + strings.Repeat("a", MaxImportBytes), "larger than 10 MB"},
		{"too many rows", tooMany, "more than 50000 rows"},
		{"at the row limit", "name\n" + strings.Repeat("a\n", MaxImportRows), ""},
		{"header only", "name,email\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseContactsCSV(strings.NewReader(tt.in))
			if tt.want == "" {
				if err != nil || len(p.Errors) != 0 {
					t.Fatalf("got %v, %v", err, p.Errors)
				}
				return
			}
			if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

func TestParseContactsCSVCapsErrors(t *testing.T) {
	in := "email\n" + strings.Repeat("x\n", MaxReportedErrors+5)
	p, err := ParseContactsCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Errors) != MaxReportedErrors || p.ErrorsOmitted != 5 {
		t.Errorf("errors %d, omitted %d", len(p.Errors), p.ErrorsOmitted)
	}
}

func TestGuardCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"=1+2", "'=1+2"},
		{"+442079460000", "'+442079460000"},
		{"-5", "'-5"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"'=x", "''=x"}, // a quote of the value's own is kept through a round trip
		{"''+x", "'''+x"},
		{"plain", "plain"},
		{"a=b", "a=b"},
		{"'quoted'", "'quoted'"},
		{"'", "'"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := guardCell(tt.in); got != tt.want {
			t.Errorf("guardCell(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if back := unguardCell(guardCell(tt.in)); back != tt.in {
			t.Errorf("unguardCell(guardCell(%q)) = %q", tt.in, back)
		}
	}
}

func FuzzImportCSV(f *testing.F) {
	for _, seed := range []string{
		"name,email,phone,company,tags,plan\nAda,ada@x.example,+442079460000,Acme,vip;lead,pro\n",
		"email\nx\n\"y\nz\"\n",
		"name,email\n\"a\"b,c\n",
		"\uFEFFName;Email\r\nA;B\r\n",
		"name\n'=1\n\n\n,\n",
		"name,emails,phones,marketing_opt_out\n\"multi\nline\",a@b.example;c@d.example,'+1 555 0100 999,yes\n",
		"phones\n+",
		"name,x\n\"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseContactsCSV(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("a file-level error must wrap ErrInvalid: %v", err)
			}
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, e := range p.Errors {
			// Line 1 is the header, which has no row errors.
			if e.Line < 2 || e.Line > lines {
				t.Fatalf("error %+v outside lines 2..%d", e, lines)
			}
			if e.Message == "" {
				t.Fatalf("error without a message: %+v", e)
			}
		}
		for _, r := range p.Rows {
			if r.Line < 2 || r.Line > lines {
				t.Fatalf("row at line %d outside 2..%d", r.Line, lines)
			}
			if r.Name == "" && len(r.Emails) == 0 && len(r.Phones) == 0 {
				t.Fatalf("row %+v has no name, email or phone", r)
			}
			// What the parser passes, the store accepts as it is.
			for _, e := range r.Emails {
				if n, ok := store.ParseEmail(e); !ok || n != e {
					t.Fatalf("email %q passed the parser but not the store", e)
				}
			}
			for _, ph := range r.Phones {
				if n, ok := store.ParsePhone(ph); !ok || n != ph {
					t.Fatalf("phone %q passed the parser but not the store", ph)
				}
			}
			for _, tag := range r.Tags {
				if !store.ValidTag(tag) {
					t.Fatalf("tag %q passed the parser but not the store", tag)
				}
			}
		}
		if len(p.Errors) > MaxReportedErrors {
			t.Fatalf("%d errors reported", len(p.Errors))
		}
	})
}
