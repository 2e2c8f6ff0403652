package web

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the zone database, whether or not the image has one
)

// tzCookie holds the browser's time zone, set by static/tz.js on every page
// from Intl.DateTimeFormat().resolvedOptions().timeZone. It is a hint, not a
// credential: a name the server does not know is ignored.
const tzCookie = "tz"

// zones caches the locations loaded by name; only valid names are kept, so
// it holds at most the zone database's few hundred entries.
var zones sync.Map // string -> *time.Location

// loadZone returns the IANA zone called name, or nil if there is none:
// "", "Local" and names that are not in the database are refused.
func loadZone(name string) *time.Location {
	if name == "" || name == "Local" || len(name) > 64 {
		return nil
	}
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_+-", r)) {
			return nil
		}
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	zones.Store(name, l)
	return l
}

// browserZone is the zone the browser reported, or "" if none valid.
func browserZone(r *http.Request) string {
	c, err := r.Cookie(tzCookie)
	if err != nil || loadZone(c.Value) == nil {
		return ""
	}
	return c.Value
}

// location is the time zone the member sees times in and types them in:
// the one on their profile, else their browser's, else UTC.
func (s *Server) location(r *http.Request) *time.Location {
	if u := currentUser(r); u != nil {
		if l := loadZone(u.TimeZone); l != nil {
			return l
		}
	}
	if l := loadZone(browserZone(r)); l != nil {
		return l
	}
	return time.UTC
}

// asTime takes a time.Time or a *time.Time; false for nil or a zero time.
func asTime(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, !t.IsZero()
	case *time.Time:
		if t == nil {
			return time.Time{}, false
		}
		return *t, !t.IsZero()
	}
	return time.Time{}, false
}

// localtime shows t in loc: "09:00" today, "2 Dec 2026 09:00 CET" on
// another day. Template use: {{localtime $.Loc .At}}; t may be a
// *time.Time, and nil or a zero time shows nothing.
func localtime(loc *time.Location, v any) string {
	t, ok := asTime(v)
	if !ok {
		return ""
	}
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	now := time.Now().In(loc)
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04")
	}
	return t.Format("2 Jan 2006 15:04 MST")
}

// localInputLayout is the value format of <input type="datetime-local">.
const localInputLayout = "2006-01-02T15:04"

// localinput is t as the value of a datetime-local input in loc
// ({{localinput $.Loc .SnoozedUntil}}); "" for nil or a zero time.
func localinput(loc *time.Location, v any) string {
	t, ok := asTime(v)
	if !ok {
		return ""
	}
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(localInputLayout)
}

// parseLocalInput reads a datetime-local input's value (seconds optional)
// as a wall-clock time in loc: a Berlin member's "2026-12-03T09:00" is
// 08:00 UTC.
func parseLocalInput(loc *time.Location, v string) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	v = strings.TrimSpace(v)
	for _, layout := range []string{localInputLayout, "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("want a date and time such as 2026-12-03T09:00, got %q", v)
}

// zoneChoices are the zones the profile page offers, with the member's
// current choice and their browser's zone added if the list lacks them.
func zoneChoices(extra ...string) []string {
	out := timeZones
	for _, z := range extra {
		if z == "" {
			continue
		}
		found := false
		for _, have := range out {
			if have == z {
				found = true
				break
			}
		}
		if !found {
			out = append(append([]string{}, out...), z)
		}
	}
	return out
}
