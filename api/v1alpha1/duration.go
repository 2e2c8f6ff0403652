package v1alpha1

import (
	"fmt"
	"strconv"
	"time"
)

// Parse turns 730d or 48h into a time.Duration.
func (d Duration) Parse() (time.Duration, error) {
	s := string(d)
	if len(s) < 2 {
		return 0, fmt.Errorf("duration %q: want a number followed by d or h", s)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("duration %q: want a number followed by d or h", s)
	}
	switch s[len(s)-1] {
	case 'd':
		return time.Duration(n) * 24 * time.Hour, nil
	case 'h':
		return time.Duration(n) * time.Hour, nil
	}
	return 0, fmt.Errorf("duration %q: want a number followed by d or h", s)
}
