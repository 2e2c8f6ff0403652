// Package auth holds the runtime's access rules: roles, password hashing,
// random tokens stored as hashes, and login rate limiting.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Role is a member's role. Each role can do what the roles below it can.
type Role string

// The roles, most powerful first.
const (
	Owner  Role = "owner"
	Admin  Role = "admin"
	Agent  Role = "agent"
	Viewer Role = "viewer"
)

var rank = map[Role]int{Viewer: 1, Agent: 2, Admin: 3, Owner: 4}

// Valid says whether r is a role.
func (r Role) Valid() bool { return rank[r] > 0 }

// AtLeast says whether r can do what min can.
func (r Role) AtLeast(min Role) bool { return rank[r] >= rank[min] && rank[min] > 0 }

// Roles lists the roles, most powerful first.
func Roles() []Role { return []Role{Owner, Admin, Agent, Viewer} }

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 10

// ErrWeakPassword is returned for a password that is too short or too long.
var ErrWeakPassword = errors.New("the password must be 10 to 72 bytes long")

// HashPassword hashes with bcrypt. bcrypt reads at most 72 bytes, so longer
// passwords are refused rather than silently truncated.
func HashPassword(pw string) (string, error) {
	if utf8.RuneCountInString(pw) < MinPasswordLength || len(pw) > 72 {
		return "", ErrWeakPassword
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), 11)
	return string(h), err
}

// dummyHash keeps a login for an unknown email as slow as for a known one.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("switchboard-dummy-password"), 11)

// CheckPassword compares in constant time; an empty hash never matches but
// costs the same.
func CheckPassword(hash, pw string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// NewToken returns a random token and the hash to store. prefix names the
// kind of token, so a leaked one is recognisable (e.g. "sbt_").
func NewToken(prefix string) (token string, hash []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // the system's randomness is broken: nothing is safe
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is how tokens are stored and looked up.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// FailureLog keeps a Limiter's failures: the workspace database, so that
// every replica of the runtime enforces one limit together.
type FailureLog interface {
	LoginFailures(ctx context.Context, keyHash []byte, since time.Time) (int, time.Time, error)
	AddLoginFailure(ctx context.Context, keyHash []byte, at time.Time) (int64, error)
	DeleteLoginFailure(ctx context.Context, id int64) error
	ClearLoginFailures(ctx context.Context, keyHash []byte) error
}

// Limiter allows Max failures per key in a sliding window: sign-ins per
// client address and per email. Keys are stored as SHA-256 hashes with the
// scope. An attempt is recorded as a failure before the password is checked
// and withdrawn if it succeeds, so that parallel attempts cannot all pass
// the check before any of them is counted.
type Limiter struct {
	Scope  string
	Max    int
	Window time.Duration
	Log    FailureLog
	Now    func() time.Time
}

// NewLimiter allows max failures per window under scope.
func NewLimiter(log FailureLog, scope string, max int, window time.Duration) *Limiter {
	return &Limiter{Scope: scope, Max: max, Window: window, Log: log, Now: time.Now}
}

func (l *Limiter) hash(key string) []byte {
	h := sha256.Sum256([]byte(l.Scope + "\x00" + key))
	return h[:]
}

// Attempt is one attempt, counted as a failure until Succeeded withdraws it.
type Attempt struct {
	l      *Limiter
	id     int64
	n      int       // attempts counted in the window, this one included
	oldest time.Time // the oldest of them
	now    time.Time
}

// Begin records an attempt for key and says whether it may go ahead: at most
// Max attempts in the window, this one included, counting failures only. A
// refused attempt stays counted, so hammering a locked key keeps it locked.
// When refused, wait says when the oldest counted attempt leaves the window.
func (l *Limiter) Begin(ctx context.Context, key string) (a *Attempt, allowed bool, wait time.Duration, err error) {
	now := l.Now()
	h := l.hash(key)
	id, err := l.Log.AddLoginFailure(ctx, h, now)
	if err != nil {
		return nil, false, 0, err
	}
	n, oldest, err := l.Log.LoginFailures(ctx, h, now.Add(-l.Window))
	if err != nil {
		return nil, false, 0, err
	}
	a = &Attempt{l: l, id: id, n: n, oldest: oldest, now: now}
	if n <= l.Max {
		return a, true, 0, nil
	}
	return a, false, a.Wait(), nil
}

// Earlier is how many failures the key had in the window before this attempt.
func (a *Attempt) Earlier() int { return max(a.n-1, 0) }

// Wait is how long until the oldest failure counted with this attempt
// leaves the window (at least a second).
func (a *Attempt) Wait() time.Duration {
	return max(a.oldest.Add(a.l.Window).Sub(a.now), time.Second)
}

// Succeeded withdraws the attempt: it was not a failure.
func (a *Attempt) Succeeded(ctx context.Context) error {
	return a.l.Log.DeleteLoginFailure(ctx, a.id)
}

// Reset forgets all of key's failures (after a successful sign-in).
func (l *Limiter) Reset(ctx context.Context, key string) error {
	return l.Log.ClearLoginFailures(ctx, l.hash(key))
}

// NormalizeEmail lowercases and trims a member's email, the form it is
// stored and looked up in, without judging whether it is an address (see
// store.ParseEmail for contacts' addresses).
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }
