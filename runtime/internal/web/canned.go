package web

import (
	"errors"
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// cannedError explains why a canned reply was not made.
func cannedError(err error, shortcut string) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return errStatus(http.StatusConflict, "conflict", "shortcut: /%s is taken", shortcut)
	case errors.Is(err, store.ErrInvalid):
		return badRequest("shortcut: 1 to 32 lower-case letters, digits, '-' or '_'")
	}
	return err
}
