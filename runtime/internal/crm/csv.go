package crm

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Limits of one import.
const (
	MaxImportBytes = 10 << 20
	MaxImportRows  = 50_000
	// MaxReportedErrors bounds the report: a wrong file would otherwise
	// answer with one error per row.
	MaxReportedErrors = 1000
)

// Errors of a file as a whole; both wrap store.ErrInvalid.
var (
	ErrTooLarge    = fmt.Errorf("%w: the file is larger than %d MB", store.ErrInvalid, MaxImportBytes>>20)
	ErrTooManyRows = fmt.Errorf("%w: the file has more than %d rows", store.ErrInvalid, MaxImportRows)
)

// RowError is what is wrong with one row. It names the row's line and the
// column, never the row's values: reports are shown and logged.
type RowError struct {
	Line    int    `json:"line"`   // 1-based; the header is line 1. The line a row starts on.
	Column  string `json:"column"` // as the header names it; empty for the row as a whole
	Message string `json:"message"`
}

// ImportRow is a valid row, normalized as contacts store it.
type ImportRow struct {
	Line                 int
	Name                 string
	Emails               []string
	Phones               []string
	Company              string
	Tags                 []string
	Custom               map[string]string
	MarketingOptOut      bool
	ProcessingRestricted bool
}

// Parsed is a CSV file checked row by row, ready to be written.
type Parsed struct {
	Rows          []*ImportRow
	Errors        []RowError // in line order
	ErrorsOmitted int        // errors beyond MaxReportedErrors
	// The header's names of the email and phone columns, for errors found
	// when the rows are matched against existing contacts.
	EmailColumn, PhoneColumn string
}

func (p *Parsed) addError(line int, column, format string, args ...any) {
	if len(p.Errors) >= MaxReportedErrors {
		p.ErrorsOmitted++
		return
	}
	p.Errors = append(p.Errors, RowError{Line: line, Column: column, Message: fmt.Sprintf(format, args...)})
}

// column is how one header cell maps to a contact.
type column struct {
	header string // as written, trimmed
	field  string // a store.ContactColumn field, or "" for a custom attribute
	skip   bool   // no name in the header: the column's values are ignored
}

// injectionLeads are the characters that make a spreadsheet read a cell as
// a formula (or, for tab and CR, hide one behind them).
const injectionLeads = "=+-@\t\r"

// guardCell prefixes a cell a spreadsheet would run as a formula with a
// single quote. Leading quotes are looked through, so that a value that
// itself starts with a quote survives export and import unchanged.
func guardCell(s string) string {
	if t := strings.TrimLeft(s, "'"); t != "" && strings.IndexByte(injectionLeads, t[0]) >= 0 {
		return "'" + s
	}
	return s
}

// unguardCell undoes guardCell, so an exported file imports as it was.
func unguardCell(s string) string {
	if strings.HasPrefix(s, "'") && guardCell(s[1:]) != s[1:] {
		return s[1:]
	}
	return s
}

// splitCell splits a cell of several values separated by semicolons,
// dropping empty ones.
func splitCell(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ";") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func entry(i, n int) string {
	if n == 1 {
		return ""
	}
	return fmt.Sprintf("entry %d ", i+1)
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "", "false", "no", "n", "0":
		return false, true
	case "true", "yes", "y", "1", "x":
		return true, true
	}
	return false, false
}

// ParseContactsCSV reads and checks a CSV file of contacts without touching
// the database. The header row names the columns: name, email(s), phone(s),
// company, tags, marketing_opt_out and processing_restricted (any case;
// spaces, dashes and underscores ignored); any other named column is a
// custom attribute, and a column without a name is ignored. Emails, phones
// and tags may hold several values separated by semicolons.
//
// A fault of the file as a whole (too large, too many rows, binary, no usable
// header) is an error wrapping store.ErrInvalid; a fault of a row is a
// RowError, and the row is left out.
func ParseContactsCSV(r io.Reader) (*Parsed, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxImportBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxImportBytes {
		return nil, ErrTooLarge
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, fmt.Errorf("%w: the file is not CSV text: it contains NUL bytes", store.ErrInvalid)
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF")) // Excel's byte order mark
	cr := csv.NewReader(bytes.NewReader(data))
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: the file is empty: a header row is required", store.ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the header row is not valid CSV", store.ErrInvalid)
	}
	p := &Parsed{}
	cols, err := parseHeader(header, p)
	if err != nil {
		return nil, err
	}
	rows := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if rows++; rows > MaxImportRows {
				return nil, ErrTooManyRows
			}
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				p.addError(pe.StartLine, "", "has %d fields where the header has %d", len(rec), len(cols))
			} else {
				p.addError(pe.StartLine, "", "is not valid CSV: %v", pe.Err)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if blank(rec) {
			continue // spreadsheets export empty rows as a line of commas
		}
		if rows++; rows > MaxImportRows {
			return nil, ErrTooManyRows
		}
		line, _ := cr.FieldPos(0)
		if row := parseRow(line, rec, cols, p); row != nil {
			p.Rows = append(p.Rows, row)
		}
	}
	return p, nil
}

func blank(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

func parseHeader(header []string, p *Parsed) ([]column, error) {
	cols := make([]column, len(header))
	seen := map[string]int{} // field or custom name → 1-based column
	customs := 0
	for i, h := range header {
		h = strings.TrimSpace(unguardCell(h))
		if !utf8.ValidString(h) || strings.ContainsFunc(h, unicode.IsControl) {
			return nil, fmt.Errorf("%w: header: column %d's name is not text", store.ErrInvalid, i+1)
		}
		cols[i] = column{header: h}
		if h == "" {
			cols[i].skip = true
			continue
		}
		key := "custom:" + h
		if f, ok := store.ContactColumn(h); ok {
			cols[i].field, key = f, f
		} else {
			if utf8.RuneCountInString(h) > store.MaxCustomKeyLen {
				return nil, fmt.Errorf("%w: header: column %d's name is longer than %d characters", store.ErrInvalid, i+1, store.MaxCustomKeyLen)
			}
			customs++
		}
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("%w: header: column %d repeats column %d (%q)", store.ErrInvalid, i+1, j, h)
		}
		seen[key] = i + 1
		switch cols[i].field {
		case "emails":
			p.EmailColumn = h
		case "phones":
			p.PhoneColumn = h
		}
	}
	if customs > store.MaxCustomKeys {
		return nil, fmt.Errorf("%w: header: more than %d custom attribute columns", store.ErrInvalid, store.MaxCustomKeys)
	}
	if seen["name"] == 0 && seen["emails"] == 0 && seen["phones"] == 0 {
		return nil, fmt.Errorf("%w: header: the first row must name the columns, among them name, email or phone", store.ErrInvalid)
	}
	return cols, nil
}

// parseRow checks one record, recording its errors in p. It returns nil for
// a row with errors.
func parseRow(line int, rec []string, cols []column, p *Parsed) *ImportRow {
	row := &ImportRow{Line: line, Custom: map[string]string{}}
	bad := false
	fail := func(col, format string, args ...any) {
		bad = true
		p.addError(line, col, format, args...)
	}
	for i, col := range cols {
		if col.skip {
			continue
		}
		v := strings.TrimSpace(unguardCell(rec[i]))
		if v == "" {
			continue
		}
		if !utf8.ValidString(v) {
			fail(col.header, "is not valid UTF-8 text")
			continue
		}
		switch col.field {
		case "name", "company":
			if utf8.RuneCountInString(v) > store.MaxNameLen {
				fail(col.header, "is longer than %d characters", store.MaxNameLen)
			} else if strings.ContainsFunc(v, unicode.IsControl) {
				fail(col.header, "contains line breaks or control characters")
			} else if col.field == "name" {
				row.Name = v
			} else {
				row.Company = v
			}
		case "emails":
			row.Emails = parseList(col.header, splitCell(v), store.ParseEmail, "is not an email address", fail)
		case "phones":
			row.Phones = parseList(col.header, splitCell(v), store.ParsePhone,
				"is not a phone number in international form (+ and 6 to 15 digits)", fail)
		case "tags":
			row.Tags = parseList(col.header, splitCell(v), func(t string) (string, bool) { return t, store.ValidTag(t) },
				"is not a tag of 1 to 64 characters without spaces or commas", fail)
		case "marketingOptOut", "processingRestricted":
			b, ok := parseBool(v)
			if !ok {
				fail(col.header, "is not yes or no")
			} else if col.field == "marketingOptOut" {
				row.MarketingOptOut = b
			} else {
				row.ProcessingRestricted = b
			}
		default:
			if utf8.RuneCountInString(v) > store.MaxCustomValueLen {
				fail(col.header, "is longer than %d characters", store.MaxCustomValueLen)
			} else {
				row.Custom[col.header] = v
			}
		}
	}
	if bad {
		return nil
	}
	if row.Name == "" && len(row.Emails) == 0 && len(row.Phones) == 0 {
		p.addError(line, "", "needs a name, an email or a phone")
		return nil
	}
	return row
}

// parseList normalizes the values of a multi-valued cell, dropping repeats.
func parseList(col string, vals []string, norm func(string) (string, bool), what string, fail func(string, string, ...any)) []string {
	if len(vals) > store.MaxValues {
		fail(col, "has more than %d entries", store.MaxValues)
		return nil
	}
	var out []string
	for i, v := range vals {
		n, ok := norm(v)
		if !ok {
			fail(col, "%s%s", entry(i, len(vals)), what)
			continue
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// exportColumns are the columns of an export before the custom attributes;
// ContactColumn maps each back to its field on import.
var exportColumns = []string{"name", "emails", "phones", "company", "tags", "marketing_opt_out", "processing_restricted"}

// writeContactsCSV writes contacts as CSV, streaming, each cell guarded
// against formula injection.
func writeContactsCSV(w io.Writer, export func(header func([]string) error, row func(*store.ContactRow) error) error) error {
	cw := csv.NewWriter(w)
	var keys []string
	write := func(rec []string) error {
		for i := range rec {
			rec[i] = guardCell(rec[i])
		}
		return cw.Write(rec)
	}
	err := export(func(k []string) error {
		keys = k
		return write(append(append([]string{}, exportColumns...), keys...))
	}, func(c *store.ContactRow) error {
		rec := []string{c.Name, strings.Join(c.Emails, ";"), strings.Join(c.Phones, ";"), c.CompanyName, strings.Join(c.Tags, ";"),
			fmt.Sprint(c.MarketingOptOut), fmt.Sprint(c.ProcessingRestricted)}
		for _, k := range keys {
			rec = append(rec, c.Custom[k])
		}
		return write(rec)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}
