package web

import (
	"errors"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// cannedError explains why a canned reply was not saved.
func cannedError(err error, shortcut string) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return fieldConflict("shortcut", "/%s is taken", shortcut)
	case errors.Is(err, store.ErrInvalid):
		return fieldError("shortcut", "1 to 32 lower-case letters, digits, '-' or '_'")
	}
	return err
}
