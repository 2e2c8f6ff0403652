package web

import (
	"encoding/json"
	"errors"
)

// optional is a PATCH body's field: Set when the body names it, with Null
// when its value is null (which clears a field that may be empty).
type optional[T any] struct {
	Set, Null bool
	V         T
}

func (o *optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

// ptr is the field's new value for a nullable field: nil for null.
func (o optional[T]) ptr() *T {
	if o.Null {
		return nil
	}
	v := o.V
	return &v
}

// errNullField is the error of a null given to a field that cannot be empty.
var errNullField = errors.New("may not be null")
