// Package auth holds the runtime's access rules: roles, password hashing,
// random tokens stored as hashes, and login rate limiting.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
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

// Limiter counts failures per key in a sliding window: logins per client
// address and per email. It is per process; with several replicas each
// enforces its own limit, which still bounds guessing.
type Limiter struct {
	Max    int
	Window time.Duration
	Now    func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
}

// NewLimiter allows max failures per window.
func NewLimiter(max int, window time.Duration) *Limiter {
	return &Limiter{Max: max, Window: window, Now: time.Now, failures: map[string][]time.Time{}}
}

// Allowed says whether key may try again, and if not, after how long.
func (l *Limiter) Allowed(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	fs := l.prune(key, now)
	if len(fs) < l.Max {
		return true, 0
	}
	return false, fs[0].Add(l.Window).Sub(now)
}

// Fail records a failure for key.
func (l *Limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	l.failures[key] = append(l.prune(key, now), now)
	if len(l.failures) > 100000 { // bound memory under a spray of keys
		for k := range l.failures {
			if len(l.prune(k, now)) == 0 {
				delete(l.failures, k)
			}
		}
	}
}

// Reset forgets key's failures (after a successful login).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	delete(l.failures, key)
	l.mu.Unlock()
}

func (l *Limiter) prune(key string, now time.Time) []time.Time {
	fs := l.failures[key]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) >= l.Window {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(l.failures, key)
	} else {
		l.failures[key] = fs
	}
	return fs
}

// NormalizeEmail lowercases and trims an email.
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }
