package receipts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The canonical encoding is the whole trust base of the chain: an auditor
// recomputes it without this code (docs/receipts.md gives a Python and a jq
// one-liner), so it is deliberately small. Numbers are integers only,
// because every JSON tool agrees on how to print those, and on nothing else.

// maxSafeInt is the largest integer every JSON implementation reads
// exactly (2^53 - 1).
const maxSafeInt = 1<<53 - 1

// value is a parsed JSON value: nil, bool, string, json.Number (an
// integer literal), []value, or object.
type value any

// object is a JSON object whose members are sorted by key.
type object []member

type member struct {
	key string
	val value
}

func (o object) get(key string) (value, bool) {
	i, ok := slices.BinarySearchFunc(o, key, func(m member, k string) int { return strings.Compare(m.key, k) })
	if !ok {
		return nil, false
	}
	return o[i].val, true
}

// without returns o minus the member key.
func (o object) without(key string) object {
	return slices.DeleteFunc(slices.Clone(o), func(m member) bool { return m.key == key })
}

// with returns o with key set to v, kept sorted.
func (o object) with(key string, v value) object {
	out := o.without(key)
	i, _ := slices.BinarySearchFunc(out, key, func(m member, k string) int { return strings.Compare(m.key, k) })
	return slices.Insert(out, i, member{key, v})
}

var integer = regexp.MustCompile(`^(0|-?[1-9][0-9]*)$`)

// parse reads one JSON value from data, strictly: valid UTF-8, integers
// only (within ±(2^53-1)), no duplicate keys, nothing after the value.
func parse(data []byte) (value, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func parseValue(dec *json.Decoder) (value, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	return parseFrom(dec, tok)
}

func parseFrom(dec *json.Decoder, tok json.Token) (value, error) {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			arr := []value{}
			for dec.More() {
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, err
			}
			return arr, nil
		case '{':
			obj := object{}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				if seen[k] {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				seen[k] = true
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				obj = append(obj, member{k, v})
			}
			if _, err := dec.Token(); err != nil { // '}'
				return nil, err
			}
			slices.SortFunc(obj, func(a, b member) int { return strings.Compare(a.key, b.key) })
			return obj, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		s := string(t)
		if !integer.MatchString(s) {
			return nil, fmt.Errorf("number %s is not an integer in canonical form (no fraction, exponent, sign + or -0)", s)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > maxSafeInt || n < -maxSafeInt {
			return nil, fmt.Errorf("integer %s is outside ±(2^53-1)", s)
		}
		return t, nil
	case string, bool, nil:
		return t, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// canonical appends the canonical encoding of v to buf: no whitespace,
// object members sorted by key (byte order of UTF-8, which is code point
// order), strings escaped as docs/receipts.md says.
func canonical(buf *bytes.Buffer, v value) {
	switch t := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(t))
	case json.Number:
		buf.WriteString(string(t))
	case string:
		writeString(buf, t)
	case []value:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			canonical(buf, e)
		}
		buf.WriteByte(']')
	case object:
		buf.WriteByte('{')
		for i, m := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, m.key)
			buf.WriteByte(':')
			canonical(buf, m.val)
		}
		buf.WriteByte('}')
	default:
		panic(fmt.Sprintf("receipts: canonical of %T", v))
	}
}

// writeString escapes only what JSON requires: the quote, the backslash
// and U+0000-U+001F (short forms where JSON has them, else \u00xx in
// lower case). Everything else, "/", "<", "&", U+007F and U+2028 included,
// is written as UTF-8. This is what Python's json.dumps(...,
// ensure_ascii=False) does, and RFC 8785.
func writeString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			buf.WriteString(`\"`)
		case c == '\\':
			buf.WriteString(`\\`)
		case c == '\b':
			buf.WriteString(`\b`)
		case c == '\t':
			buf.WriteString(`\t`)
		case c == '\n':
			buf.WriteString(`\n`)
		case c == '\f':
			buf.WriteString(`\f`)
		case c == '\r':
			buf.WriteString(`\r`)
		case c < 0x20:
			buf.WriteString(`\u00`)
			buf.WriteByte(hex[c>>4])
			buf.WriteByte(hex[c&0xf])
		default:
			buf.WriteByte(c)
		}
	}
	buf.WriteByte('"')
}

// Canonicalize returns the canonical encoding of the JSON value data, or
// why data has none (invalid JSON or UTF-8, a number that is not a safe
// integer, a duplicate key).
func Canonicalize(data []byte) ([]byte, error) {
	v, err := parse(data)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	canonical(&buf, v)
	return buf.Bytes(), nil
}
