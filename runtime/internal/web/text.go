package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PostgreSQL text cannot hold a NUL byte and must be valid UTF-8. Input that
// breaks either rule is refused at the door with a 400 naming the field,
// rather than failing later in the database as a 500.

func badText(s string) bool { return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) }

// checkText refuses a query string or form holding a value that is not
// text. Forms are read for pages only, where they are what handlers expect;
// a JSON API body is checked by readJSON after decoding, and is never read
// here, whatever its Content-Type says.
func checkText(r *http.Request, k kind) error {
	if err := checkValues(r.URL.Query()); err != nil {
		return err
	}
	if k == api {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "multipart/form-data"):
		if err := r.ParseMultipartForm(8 << 20); err != nil {
			return formError(err)
		}
		return checkValues(r.MultipartForm.Value)
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		if err := r.ParseForm(); err != nil {
			return formError(err)
		}
		return checkValues(r.PostForm)
	}
	return nil
}

func formError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errStatus(http.StatusRequestEntityTooLarge, "too_large", "the body is larger than %d bytes", mbe.Limit)
	}
	return badRequest("the form does not parse")
}

func checkValues(fields map[string][]string) error {
	for k, vs := range fields {
		if badText(k) {
			return badRequest("a field name is not UTF-8 text without NUL bytes")
		}
		for _, v := range vs {
			if badText(v) {
				return badRequest("%s: must be UTF-8 text without NUL bytes", k)
			}
		}
	}
	return nil
}

// firstBadText returns the JSON path of the first string in v (a decoded
// body) that is not text, or "".
func firstBadText(v any) string {
	return walkText(reflect.ValueOf(v), "")
}

func walkText(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return ""
		}
		return walkText(v.Elem(), path)
	case reflect.String:
		if badText(v.String()) {
			return strings.TrimPrefix(path, ".")
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if p := walkText(v.Field(i), path+"."+name); p != "" {
				return p
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			var decoded any // a field decoded later, by hand: check it now
			if json.Unmarshal(v.Bytes(), &decoded) != nil {
				return ""
			}
			return walkText(reflect.ValueOf(&decoded), path)
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return "" // []byte is binary by design
		}
		for i := range v.Len() {
			if p := walkText(v.Index(i), path+"["+strconv.Itoa(i)+"]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key()
			if k.Kind() == reflect.String && badText(k.String()) {
				return strings.TrimPrefix(path, ".") + " (a key)"
			}
			if p := walkText(iter.Value(), path+"."+k.String()); p != "" {
				return p
			}
		}
	}
	return ""
}
