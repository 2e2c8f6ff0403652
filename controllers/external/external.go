// Package external is what the operator's clients of the systems outside the
// cluster (PostgreSQL, Vault) share: how they say a system did not answer,
// and how they prove that an object there (a role or database, a Vault
// entry, policy or role) was made by the operator for one Workspace. Each
// such object carries a mark, the Workspace UID, written when the operator
// creates it. A name match alone proves nothing.
package external

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// AdoptUnmarked, as Claim.AdoptFrom, takes over objects that carry no mark
// (made before ownership marks existed).
const AdoptUnmarked = "unmarked"

// Claim is a Workspace's claim on the objects of its name.
type Claim struct {
	// UID is the Workspace's UID: the mark it writes and accepts.
	UID string
	// AdoptFrom, if set, is an earlier Workspace UID whose marked objects
	// this one may take over, or AdoptUnmarked. Setting it is an explicit act
	// of the platform team (annotation tenancy.switchboard.dev/adopt-data-from-uid).
	AdoptFrom string
}

// Accepts says whether an object carrying mark (empty: none) may be treated
// as the claimant's.
func (c Claim) Accepts(mark string) bool {
	switch {
	case mark != "" && mark == c.UID:
		return true
	case mark == "":
		return c.AdoptFrom == AdoptUnmarked
	default:
		return c.AdoptFrom != "" && mark == c.AdoptFrom
	}
}

// Describe says, for a user, why an object with mark is not the claimant's.
func Describe(mark string) string {
	if mark == "" {
		return "exists and was not made by Switchboard for this Workspace (it carries no ownership mark)"
	}
	return "exists and belongs to Workspace UID " + mark
}

// ConflictError says that an object exists under a Workspace's name and is
// not provably that Workspace's. Nothing was written to it.
type ConflictError struct {
	// Object names it, with where it lives: "role ws_acme on server eu-1".
	Object string
	Reason string
}

func (e *ConflictError) Error() string { return fmt.Sprintf("%s %s", e.Object, e.Reason) }

// Conflict returns a *ConflictError for object, whose mark is mark.
func Conflict(object, mark string) error {
	return &ConflictError{Object: object, Reason: Describe(mark)}
}

// IsConflict says whether err is, or wraps, a *ConflictError.
func IsConflict(err error) bool {
	var c *ConflictError
	return errors.As(err, &c)
}

// The systems an Unreachable names.
const (
	PostgreSQL = "PostgreSQL"
	Vault      = "Vault"
)

// Unreachable wraps an error that means a system did not answer (as opposed
// to answering with an error).
type Unreachable struct {
	// System is PostgreSQL or Vault.
	System string
	Err    error
}

func (e *Unreachable) Error() string { return e.Err.Error() }
func (e *Unreachable) Unwrap() error { return e.Err }

// NewUnreachable says that system did not answer: its text is "<subject> is
// unreachable: <what failed>" ("server eu-1", "reading sys/mounts: vault").
// It keeps only the network operation that failed (addresses, never request
// bodies), so it holds no secret.
func NewUnreachable(system, subject string, err error) *Unreachable {
	msg := "connection failed"
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		msg = opErr.Error()
	} else if errors.Is(err, context.DeadlineExceeded) {
		msg = "timed out"
	}
	return &Unreachable{System: system, Err: fmt.Errorf("%s is unreachable: %s", subject, msg)}
}

// IsUnreachable says whether err is, or wraps, an *Unreachable of system.
func IsUnreachable(err error, system string) bool {
	var u *Unreachable
	return errors.As(err, &u) && u.System == system
}
