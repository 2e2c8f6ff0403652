package store

import (
	"fmt"
	"strings"
)

// MaxKeyLen bounds a key, leaving room under S3's 1,024-byte limit for a
// store prefix.
const MaxKeyLen = 512

// ValidateKey checks key against the key rules in the package doc. Its
// error matches ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	return checkSegments(key, false)
}

// ValidatePrefix checks a List or Cleanup prefix: empty, or a key, or a key
// followed by "/" or by the start of a segment.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return checkSegments(prefix, true)
}

// checkSegments checks each "/"-separated segment. For a prefix, the last
// segment may be empty (a trailing "/").
func checkSegments(s string, prefix bool) error {
	if len(s) > MaxKeyLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, MaxKeyLen)
	}
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		if seg == "" {
			if prefix && i == len(segs)-1 && i > 0 {
				continue
			}
			return fmt.Errorf("%w: %q has an empty segment (a leading, doubled or trailing /)", ErrInvalidKey, s)
		}
		if seg[0] == '.' {
			return fmt.Errorf("%w: %q has a segment starting with '.'", ErrInvalidKey, s)
		}
		for j := 0; j < len(seg); j++ {
			if !keyChar(seg[j]) {
				return fmt.Errorf("%w: %q has a character other than letters, digits, '.', '_', '-' and '/'", ErrInvalidKey, s)
			}
		}
	}
	return nil
}

func keyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}
