package store

import (
	"errors"
	"fmt"
	"strings"
)

// The errors a store returns match these through errors.Is. A backend's own
// error is never returned as is: its text is copied, with any credential
// removed, so that nothing reachable through Unwrap can leak one either.
var (
	// ErrNotFound: no object at the key.
	ErrNotFound = errors.New("object not found")
	// ErrInvalidKey: the key or prefix breaks the key rules (see the
	// package doc); nothing was sent to the store.
	ErrInvalidKey = errors.New("invalid object key")
	// ErrInvalidURL: the store URL cannot be used.
	ErrInvalidURL = errors.New("invalid backup store URL")
	// ErrNoCredentials: an s3 store was opened without credentials, or
	// a credentials file lacks a value.
	ErrNoCredentials = errors.New("no credentials for the backup store")
	// ErrUnreachable: the store did not answer, or answered with a
	// server error. It is usually transient: retry with backoff.
	ErrUnreachable = errors.New("backup store is unreachable")
	// ErrAccessDenied: the store refused the credentials or the request.
	ErrAccessDenied = errors.New("backup store denied access")
	// ErrNoBucket: the bucket of an s3 store does not exist.
	ErrNoBucket = errors.New("backup store bucket does not exist")
	// ErrNotPurged: after a delete, a check found the object, a version of
	// it, an upload to it or a temporary file still there.
	ErrNotPurged = errors.New("object is still in the store after a purge")
)

// Error is an error of one store operation.
type Error struct {
	// Op is the operation: "put", "stat", "get", "delete", "purge",
	// "list", "cleanup", "ping".
	Op string
	// Store is the store's URL, without credentials.
	Store string
	// Key is the key or prefix, if the operation had one.
	Key string
	// Err matches one of this package's sentinels, or a context error, or
	// (filesystem) an *fs.PathError.
	Err error
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("backup store %s: %s: %v", e.Store, e.Op, e.Err)
	}
	return fmt.Sprintf("backup store %s: %s %q: %v", e.Store, e.Op, e.Key, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// detailError is a backend error reduced to its (redacted) text and the
// sentinels it matches.
type detailError struct {
	msg   string
	kinds []error
}

func (e *detailError) Error() string { return e.msg }

func (e *detailError) Is(target error) bool {
	for _, k := range e.kinds {
		if k == target {
			return true
		}
	}
	return false
}

// detail makes an error matching kinds (the first of which, if a sentinel of
// this package, starts the text).
func detail(msg string, kinds ...error) error {
	if len(kinds) > 0 && msg != "" {
		msg = kinds[0].Error() + ": " + msg
	} else if len(kinds) > 0 {
		msg = kinds[0].Error()
	}
	return &detailError{msg: msg, kinds: kinds}
}

// redactor removes secrets from text.
type redactor []string

func newRedactor(c Credentials) redactor {
	var r redactor
	for _, s := range []string{c.SecretAccessKey, c.SessionToken, c.AccessKeyID} {
		// A very short value would redact ordinary words; such a value is
		// no real credential anyway.
		if len(s) >= 4 {
			r = append(r, s)
		}
	}
	return r
}

func (r redactor) redact(s string) string {
	for _, secret := range r {
		s = strings.ReplaceAll(s, secret, "[REDACTED]")
	}
	return s
}
